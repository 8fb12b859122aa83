#!/bin/sh
# The whole test suite, as CI runs it (`make check`):
#   1. the normal build: unit tests (cmocka) and end-to-end tests;
#   2. an ASan+UBSan build: the same suites again;
#   3. every libFuzzer harness for a short run over its seed corpus.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
san=${2:-build-asan}

[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2

[ -f "$san/build.ninja" ] ||
	meson setup "$san" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug >/dev/null
ninja -C "$san"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$san" --print-errorlogs --num-processes 2

scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

# One plain closing line over both builds' test runs.
passed=0 failed=0
for d in "$build" "$san"; do
	log="$d/meson-logs/testlog.json"
	[ -f "$log" ] || continue
	ok=$(grep -c '"result": "OK"' "$log" || true)
	bad=$(grep -c '"result": "\(FAIL\|ERROR\|TIMEOUT\)"' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
done
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
