#!/bin/sh
# npm-cache.sh PACKAGE VERSION: install one pinned npm package into the
# per-user cache (${BOTTLE_CACHE:-~/.cache/bottle}/npm/PACKAGE-VERSION) once
# and print the path of its node_modules/PACKAGE directory.  Offline when
# already there.  The tests use it for client libraries they run inside a
# bottle.
set -eu
pkg=$1 ver=$2
cache=${BOTTLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bottle}
dir="$cache/npm/$(echo "$pkg" | tr / _)-$ver"
if [ ! -f "$dir/node_modules/$pkg/package.json" ]; then
	command -v npm >/dev/null || { echo "npm-cache: npm is missing" >&2; exit 1; }
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --silent "$pkg@$ver" >&2
fi
echo "$dir/node_modules/$pkg"
