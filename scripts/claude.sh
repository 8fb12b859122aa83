#!/bin/sh
# Install the pinned Claude Code CLI from npm into the bottle cache and print
# the path of its `claude` executable.
#
#   scripts/claude.sh            install if missing, print the executable
#
# Cache: ${BOTTLE_CACHE:-$HOME/.cache/bottle}/claude-code-<version>; an
# existing complete install is reused without touching the network.
# CLAUDE_CODE_VERSION overrides the pin.  Missing node/npm are installed from
# Debian's apt.  Since 2.1.113 the npm package's `claude` is a native
# executable (copied out of the platform package @anthropic-ai/claude-code-
# linux-x64 by a postinstall script): it needs node only to install, and at
# run time only the host's libc.  To run it in a bottle, bind the printed
# prefix (everything under claude-code-<version>) into the bottle.
set -eu

version=${CLAUDE_CODE_VERSION:-2.1.330}
cache=${BOTTLE_CACHE:-$HOME/.cache/bottle}
prefix=$cache/claude-code-$version
exe=$prefix/node_modules/@anthropic-ai/claude-code/bin/claude.exe
[ -e "$exe" ] || exe=$prefix/node_modules/@anthropic-ai/claude-code/cli.js

# A complete install leaves a stamp last; a half-done one is redone.
if [ -f "$prefix/.installed" ] && [ -x "$exe" ]; then
	echo "$exe"
	exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "claude.sh: installing nodejs and npm from apt" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.claude-code-$version.XXXXXX")
chmod 755 "$tmp" # the bottle's agent (another uid) runs it
trap 'rm -rf "$tmp"' EXIT
echo "claude.sh: installing @anthropic-ai/claude-code@$version" >&2
# --foreground-scripts: the postinstall that puts the native binary in place
# must run (and show its errors).  engine-strict off: the package declares
# node >= 22 but only its installer runs under node.
npm install --prefix "$tmp" --no-audit --no-fund --no-save \
	--engine-strict=false --foreground-scripts --loglevel=error \
	"@anthropic-ai/claude-code@$version" >&2
rm -rf "$prefix"
mv "$tmp" "$prefix"
trap - EXIT
exe=$prefix/node_modules/@anthropic-ai/claude-code/bin/claude.exe
[ -e "$exe" ] || exe=$prefix/node_modules/@anthropic-ai/claude-code/cli.js
if ! "$exe" --version >/dev/null 2>&1; then
	echo "claude.sh: $exe does not run" >&2
	exit 1
fi
touch "$prefix/.installed"
echo "$exe"
