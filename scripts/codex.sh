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
# codex-<version>) into the bottle.  See docs/codex.md.  scripts/npm-pin.sh
# does the work.
set -eu

case $(uname -m) in
x86_64) plat=linux-x64 triple=x86_64-unknown-linux-musl ;;
aarch64) plat=linux-arm64 triple=aarch64-unknown-linux-musl ;;
*)
	echo "codex.sh: no Codex build for $(uname -m)" >&2
	exit 1
	;;
esac
# npm-pin.sh runs `codex --version` with a scratch HOME: nothing may go to
# the caller's ~/.codex.
unset CODEX_HOME
# --include=optional: the platform package is an optional dependency; an
# npm configured to omit those would leave only the launcher.
exec "$(dirname "$0")/npm-pin.sh" codex @openai/codex "${CODEX_VERSION:-0.169.0}" \
	"node_modules/@openai/codex-$plat/vendor/$triple/bin/codex" -- \
	--include=optional --update-notifier=false
