#!/bin/sh
# Install the pinned OpenAI Codex CLI from npm into the bottle cache and print
# the path of its native `codex` executable.
#
#   scripts/codex.sh            install if missing, print the executable
#
# Cache: ${BOTTLE_CACHE:-$HOME/.cache/bottle}/codex-<version>; an existing
# complete install is reused without touching the network.  CODEX_VERSION
# overrides the pin.  Missing node/npm are installed from Debian's apt.
#
# The npm package @openai/codex is only a node launcher (bin/codex.js); the
# program is a static (musl) Rust executable in the platform package, which
# npm installs as an optional dependency aliased to
# @openai/codex@<version>-linux-x64 (or -linux-arm64).  No install script
# runs and nothing is fetched from anywhere but the npm registry.  The
# executable needs neither node nor a libc at run time, so this prints it
# rather than the launcher.  Next to it the package ships bwrap (Codex's own
# sandbox), rg and the code-mode host, found relative to the executable: to
# run it in a bottle, bind the printed prefix (everything under
# codex-<version>) into the bottle.  See docs/codex.md.
set -eu

version=${CODEX_VERSION:-0.169.0}
cache=${BOTTLE_CACHE:-$HOME/.cache/bottle}
prefix=$cache/codex-$version
case $(uname -m) in
x86_64) plat=linux-x64 triple=x86_64-unknown-linux-musl ;;
aarch64) plat=linux-arm64 triple=aarch64-unknown-linux-musl ;;
*)
	echo "codex.sh: no Codex build for $(uname -m)" >&2
	exit 1
	;;
esac
rel=node_modules/@openai/codex-$plat/vendor/$triple/bin/codex
exe=$prefix/$rel

# A complete install leaves a stamp last; a half-done one is redone.
if [ -f "$prefix/.installed" ] && [ -x "$exe" ]; then
	echo "$exe"
	exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "codex.sh: installing nodejs and npm from apt" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.codex-$version.XXXXXX")
chmod 755 "$tmp" # the bottle's agent (another uid) runs it
trap 'rm -rf "$tmp"' EXIT
echo "codex.sh: installing @openai/codex@$version" >&2
# --include=optional: the platform package is an optional dependency; an
# npm configured to omit those would leave only the launcher.
npm install --prefix "$tmp" --no-audit --no-fund --no-save \
	--include=optional --loglevel=error --update-notifier=false \
	"@openai/codex@$version" >&2
if [ ! -x "$tmp/$rel" ]; then
	echo "codex.sh: npm did not install @openai/codex-$plat ($rel missing)" >&2
	exit 1
fi
rm -rf "$prefix"
mv "$tmp" "$prefix"
trap - EXIT
# --version only parses arguments; with a scratch HOME it writes nothing to
# the caller's ~/.codex.
home=$(mktemp -d)
if ! HOME=$home CODEX_HOME=$home "$exe" --version >/dev/null 2>&1; then
	rm -rf "$home"
	echo "codex.sh: $exe does not run" >&2
	exit 1
fi
rm -rf "$home"
touch "$prefix/.installed"
echo "$exe"
