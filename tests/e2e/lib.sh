# Shared helpers for the end-to-end tests.  Each test sources this, gets a
# private XDG_STATE_HOME and work dir, and reports with ok/fail; the test
# exits non-zero if anything failed.  Tests drive the real binaries.
set -u
: "${BOTTLE:?BOTTLE must point at the bottle binary}"
T_FAILS=0
T_PASSES=0
T_NAME=$(basename "$0" .sh)
T_ROOT=$(mktemp -d "/tmp/bottle-e2e-$T_NAME.XXXXXX")
chmod 755 "$T_ROOT"
export T_ROOT
export XDG_STATE_HOME="$T_ROOT/state"
export XDG_CONFIG_HOME="$T_ROOT/config"
mkdir -p "$XDG_STATE_HOME" "$XDG_CONFIG_HOME"

ok() { T_PASSES=$((T_PASSES + 1)); echo "ok - $*"; }
fail() { T_FAILS=$((T_FAILS + 1)); echo "FAIL - $*"; }
check() { # check DESC CMD...: ok if CMD succeeds
	desc=$1; shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}
skip_all() { echo "SKIP: $*"; cleanup_root; exit 77; }
# Teardown functions that cleanup_root runs first, most recent first (a
# library such as world.sh pushes its own: T_CLEANUP="fn $T_CLEANUP").
T_CLEANUP=""

# A project dir with a file and a git repo in it.
make_project() {
	d="$T_ROOT/$1"
	mkdir -p "$d/sub"
	echo "original" > "$d/file.txt"
	printf '#!/bin/sh\necho script\n' > "$d/sub/run.sh"
	chmod 755 "$d/sub/run.sh"
	ln -s file.txt "$d/link"
	git -C "$d" init -q 2>/dev/null && git -C "$d" -c user.email=t@t -c user.name=t add -A >/dev/null 2>&1 &&
		git -C "$d" -c user.email=t@t -c user.name=t commit -qm init >/dev/null 2>&1
	echo "$d"
}

# Run as an ordinary user: BOTTLE_USER (created if missing when root).
E2E_USER=${BOTTLE_TEST_USER:-bottletest}
ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 1
	id "$E2E_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$E2E_USER" || return 1
	mkdir -p "$T_ROOT/ustate" "$T_ROOT/uconfig"
	chown "$E2E_USER" "$T_ROOT/ustate" "$T_ROOT/uconfig"
	return 0
}
as_user() { # as_user CMD: run a shell command as E2E_USER with our env
	su "$E2E_USER" -s /bin/sh -c "export BOTTLE='$BOTTLE' XDG_STATE_HOME='$T_ROOT/ustate' XDG_CONFIG_HOME='$T_ROOT/uconfig'; $1"
}

# need_vm: skip the test unless QEMU and a guest kernel with its modules
# are here; sets kernel (the newest such /boot/vmlinuz-*).
need_vm() {
	command -v qemu-system-x86_64 >/dev/null ||
		skip_all "qemu-system-x86_64 missing (scripts/deps.sh installs qemu-system-x86)"
	kernel=""
	for k in /boot/vmlinuz-*; do
		[ -r "$k" ] && [ -r "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] && kernel=$k
	done
	[ -n "$kernel" ] ||
		skip_all "no guest kernel with modules (scripts/deps.sh installs linux-image-cloud-amd64)"
}

bottle_ids() { ls "$XDG_STATE_HOME/bottle" 2>/dev/null; }

# bundle_stopped_clean STATE: after `bottle stop`, the bundle of the bottle
# whose state dir is STATE exits, and its log has no sanitizer report.
# stop returns before the monitor has reaped the bundle (a sanitized one
# takes its time to exit): waited for, boundedly.
bundle_stopped_clean() {
	for _ in $(seq 100); do
		pgrep -f "bottle-bundle --state $1" >/dev/null || break
		sleep 0.1
	done
	if grep -q 'Sanitizer' "$1/logs/bundle.log" 2>/dev/null; then
		fail "sanitizer report in bundle.log"
		grep -A20 Sanitizer "$1/logs/bundle.log" | head -40
	else
		ok "the bundle's log has no sanitizer report"
	fi
	pgrep -f "bottle-bundle --state $1" >/dev/null && fail "the bundle outlived its bottle" ||
		ok "the bundle stops with its bottle"
}

cleanup_root() {
	# Remove what the test made; stop bottles left running.  T_KEEP=1
	# keeps T_ROOT (logs, state) for a post-mortem.
	for fn in $T_CLEANUP; do "$fn"; done
	T_CLEANUP=""
	for id in $(bottle_ids); do "$BOTTLE" stop "$id" >/dev/null 2>&1; done
	"$BOTTLE" cleanup --yes >/dev/null 2>&1
	if [ -d "$T_ROOT/ustate" ]; then
		as_user 'for id in $(ls "$XDG_STATE_HOME"); do "$BOTTLE" stop $id; done; "$BOTTLE" cleanup --yes' >/dev/null 2>&1
	fi
	[ -n "${T_KEEP:-}" ] || rm -rf "$T_ROOT" 2>/dev/null
}

finish() {
	cleanup_root
	echo "$T_NAME: $T_PASSES passed, $T_FAILS failed"
	[ "$T_FAILS" -eq 0 ]
	exit $?
}
