#!/bin/sh
# Build the libFuzzer harnesses with clang and run each over its seed
# corpus for a short time (argument: seconds per harness, default 60).
# New inputs go to a scratch corpus, so the committed seeds stay small.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build-fuzz
if [ ! -f "$out/build.ninja" ]; then
	log=$(CC=clang meson setup "$out" -Dfuzz=true -Dtests=false 2>&1) || {
		printf '%s\n' "$log" | tail -5 >&2
		exit 1
	}
fi
ninja -C "$out" $(cd fuzz && ls fuzz_*.c | sed "s,^,fuzz/,; s/\.c$//")
for h in "$out"/fuzz/fuzz_*; do
	[ -f "$h" ] && [ -x "$h" ] || continue
	name=${h##*/fuzz_}
	scratch=$(mktemp -d)
	echo "fuzz: $name for ${secs}s"
	"$h" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 \
		"$scratch" "fuzz/corpus/$name" 2>&1 | tail -3
	rm -rf "$scratch"
done
