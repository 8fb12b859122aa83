#!/bin/sh
# The vm backend's guest boots: our initramfs (bottle-init and the kernel's
# virtio modules) under QEMU microvm with TCG, the init reports on the
# virtio console and powers off; a virtiofs share is mounted; a missing,
# non-bzImage, truncated kernel, a dynamic init, an init that exits (a
# guest panic) and a virtiofsd that cannot start each get a clear error.  TCG only, so the result does not depend on the host's KVM.
. "$(dirname "$0")/lib.sh"
: "${VMBOOT:?VMBOOT must point at the vmboot binary}"

command -v qemu-system-x86_64 >/dev/null ||
	skip_all "qemu-system-x86_64 missing (scripts/deps.sh installs qemu-system-x86)"
kernel=""
for k in /boot/vmlinuz-*; do
	[ -r "$k" ] && [ -r "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ] && kernel=$k
done
[ -n "$kernel" ] ||
	skip_all "no guest kernel with modules (scripts/deps.sh installs linux-image-cloud-amd64)"
export XDG_CACHE_HOME="$T_ROOT/cache"
out=$T_ROOT/out
err=$T_ROOT/err

# A full boot: modules loaded, report on hvc0, clean power off.
"$VMBOOT" --accel tcg >"$out" 2>"$err"; rc=$?
check "a TCG boot succeeds" [ $rc -eq 0 ]
check "the init reports on the virtio console" grep -q "^bottle-init: ok modules=[1-9]" "$out"
check "the initramfs was built" grep -q "initramfs built" "$err"
n=$(ls "$XDG_CACHE_HOME/bottle/vm/" | grep -c '^initramfs-.*\.cpio$')
check "one archive in the cache" [ "$n" -eq 1 ]
[ $rc -eq 0 ] || { cat "$out" "$err"; }

# The same inputs: the cached archive, and the same result.
"$VMBOOT" --accel tcg >"$out" 2>"$err"; rc=$?
check "a second boot succeeds" [ $rc -eq 0 ]
check "and uses the cached initramfs" grep -q "initramfs cached" "$err"

# The raw boot (bench/launch's vm-raw): the init powers off at once.
"$VMBOOT" --accel tcg --raw >"$out" 2>"$err"; rc=$?
check "a raw boot succeeds" [ $rc -eq 0 ]
check "the raw init ran" grep -q "^bottle-init: exit" "$out"

# A virtiofs share: virtiofsd serves a directory, the init mounts it.
if [ -x /usr/lib/qemu/virtiofsd ]; then
	mkdir -p "$T_ROOT/share/sub"
	echo one >"$T_ROOT/share/f1"
	echo two >"$T_ROOT/share/f2"
	"$VMBOOT" --accel tcg --share "$T_ROOT/share" >"$out" 2>"$err"; rc=$?
	check "a boot with a virtiofs share succeeds" [ $rc -eq 0 ]
	check "the init mounted it and sees its 3 entries" \
		grep -q "^bottle-init: mounted share on /share: 3 entries" "$out"
	check "no virtiofsd left running" [ -z "$(pgrep -f "[v]irtiofsd .*$T_ROOT")" ]
	[ $rc -eq 0 ] || { cat "$out" "$err"; }

	"$VMBOOT" --accel tcg --share "$T_ROOT/noshare" >"$out" 2>"$err"; rc=$?
	check "virtiofsd failing to start exits 1" [ $rc -eq 1 ]
	check "and says why, in virtiofsd's words" \
		grep -q "virtiofsd for $T_ROOT/noshare failed to start (exit 1): failed to stat source" "$err"
fi

# Bad input: each a clear error, exit 1, no QEMU left behind.
"$VMBOOT" --accel tcg --kernel "$T_ROOT/nope" >"$out" 2>"$err"; rc=$?
check "a missing kernel exits 1" [ $rc -eq 1 ]
check "and names it" grep -q "guest kernel $T_ROOT/nope: No such file" "$err"

printf '#!/bin/sh\n' >"$T_ROOT/notakernel"
"$VMBOOT" --accel tcg --kernel "$T_ROOT/notakernel" >"$out" 2>"$err"; rc=$?
check "a non-bzImage kernel exits 1" [ $rc -eq 1 ]
check "and says what was expected" grep -q "not an x86 bzImage" "$err"

head -c 65536 "$kernel" >"$T_ROOT/truncated"
"$VMBOOT" --accel tcg --raw --timeout 120 --kernel "$T_ROOT/truncated" >"$out" 2>"$err"; rc=$?
check "a truncated kernel exits 1" [ $rc -eq 1 ]
check "and says the init never reported" grep -q "without the init's report" "$err"

"$VMBOOT" --accel tcg --raw --init /bin/true >"$out" 2>"$err"; rc=$?
check "a dynamic init is refused" [ $rc -eq 1 ]
check "and the error says why" grep -q "dynamically linked" "$err"

# A static program that exits as PID 1: the guest kernel panics, QEMU ends.
# (bottle-probe is static unless sanitizers are on.)
if [ -n "${BOTTLE_PROBE:-}" ] && [ "${BOTTLE_SANITIZED:-none}" = none ]; then
	"$VMBOOT" --accel tcg --raw --init "$BOTTLE_PROBE" >"$out" 2>"$err"; rc=$?
	check "an init that exits exits 1" [ $rc -eq 1 ]
	check "and reports the guest's panic" grep -q "the guest kernel panicked: \"Kernel panic" "$err"
fi

check "no QEMU left running" [ -z "$(pgrep -f "[q]emu-system-x86_64 .*$T_ROOT")" ]
finish
