#!/bin/sh
# Install a pinned npm package into the bottle cache and print the path of
# its executable (what scripts/claude.sh and scripts/codex.sh share).
#
#   scripts/npm-pin.sh NAME PACKAGE VERSION REL [REL...] [-- NPM_ARG...]
#
# Cache: ${BOTTLE_CACHE:-$HOME/.cache/bottle}/NAME-VERSION (the prefix); an
# existing complete install (stamped .installed, executable present) is
# reused without touching the network.  The executable is the first of the
# RELs (paths under the prefix) that exists.  Missing node/npm are installed
# from Debian's apt.  PACKAGE@VERSION is installed with npm into a temporary
# dir next to the prefix, with the NPM_ARGs; it must yield one of the RELs,
# which must run `--version` (with a scratch HOME: nothing is written to the
# caller's), before it replaces the prefix and is stamped.  To run it in a
# bottle, bind the prefix into the bottle.
set -eu

me=${0##*/}
[ $# -ge 4 ] || {
	echo "usage: $me NAME PACKAGE VERSION REL [REL...] [-- NPM_ARG...]" >&2
	exit 2
}
name=$1 package=$2 version=$3
shift 3
rels=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	rels="$rels $1"
	shift
done
[ $# -gt 0 ] && shift # --; the rest are npm's
cache=${BOTTLE_CACHE:-$HOME/.cache/bottle}
prefix=$cache/$name-$version

# first_rel DIR: the first REL that exists under DIR (else the first REL).
first_rel() {
	for r in $rels; do
		[ -e "$1/$r" ] && { echo "$r"; return 0; }
	done
	# shellcheck disable=SC2086 # rels is a list
	set -- $rels
	echo "$1"
}

# A complete install leaves a stamp last; a half-done one is redone.
exe=$prefix/$(first_rel "$prefix")
if [ -f "$prefix/.installed" ] && [ -x "$exe" ]; then
	echo "$exe"
	exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "$me: installing nodejs and npm from apt" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends nodejs npm >/dev/null
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.$name-$version.XXXXXX")
chmod 755 "$tmp" # the bottle's agent (another uid) runs it
home=""
trap 'rm -rf "$tmp" $home' EXIT
echo "$me: installing $package@$version" >&2
npm install --prefix "$tmp" --no-audit --no-fund --no-save \
	--loglevel=error "$@" "$package@$version" >&2
rel=$(first_rel "$tmp")
if [ ! -e "$tmp/$rel" ]; then
	echo "$me: npm did not install $package's executable ($rels missing)" >&2
	exit 1
fi
rm -rf "$prefix"
mv "$tmp" "$prefix"
exe=$prefix/$rel
home=$(mktemp -d)
if ! HOME=$home "$exe" --version >/dev/null 2>&1; then
	echo "$me: $exe does not run" >&2
	exit 1
fi
touch "$prefix/.installed"
echo "$exe"
