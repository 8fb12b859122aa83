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
# scripts/npm-pin.sh does the work.
set -eu

pkg=node_modules/@anthropic-ai/claude-code
# --foreground-scripts: the postinstall that puts the native binary in place
# must run (and show its errors).  engine-strict off: the package declares
# node >= 22 but only its installer runs under node.  Before 2.1.113 the
# executable is cli.js.
exec "$(dirname "$0")/npm-pin.sh" claude-code @anthropic-ai/claude-code \
	"${CLAUDE_CODE_VERSION:-2.1.330}" "$pkg/bin/claude.exe" "$pkg/cli.js" -- \
	--engine-strict=false --foreground-scripts
