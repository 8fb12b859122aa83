#!/bin/sh
# The vm backend's guest boots: our initramfs (bottle-init and the kernel's
# virtio modules) under QEMU microvm with TCG, the init reports on the
# virtio console and powers off; a virtiofs share is mounted; a missing,
# non-bzImage, truncated kernel, a dynamic init, an init that exits (a
# guest panic) and a virtiofsd that cannot start each get a clear error.  TCG only, so the result does not depend on the host's KVM.
# bottle doctor's vm report: QEMU, kernel, virtiofsd, bottle-init, and the
# KVM verdict before and after vmboot probed it.
. "$(dirname "$0")/lib.sh"
: "${VMBOOT:?VMBOOT must point at the vmboot binary}"

need_vm
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

# bottle doctor's vm report, before KVM was probed and after: the cached
# verdict it shows is the one vmboot (--accel auto) acted on.
if [ -n "${BOTTLE:-}" ]; then
	"$BOTTLE" doctor >"$out" 2>"$err"
	check "doctor: the vm backend is usable" grep -q "^backend vm: usable$" "$out"
	check "doctor: QEMU and its version" grep -q "^qemu: /.*, QEMU emulator version [0-9]" "$out"
	check "doctor: the guest kernel, its release and modules" \
		grep -q "^guest kernel: /boot/vmlinuz-.* (release .*), modules in /lib/modules/.*: [1-9][0-9]* files" "$out"
	check "doctor: virtiofsd and its version" \
		grep -q "^virtiofsd: /usr/lib/qemu/virtiofsd, virtiofsd version [0-9]" "$out"
	check "doctor: bottle-init, static" grep -q "^bottle-init: /.*/bottle-init (static)" "$out"
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		check "doctor: /dev/kvm opens" grep -q "^/dev/kvm: present, opens read-write" "$out"
		check "doctor: KVM not probed yet" \
			grep -q "^KVM: not probed yet: the first vm launch probes it" "$out"
		"$VMBOOT" --raw --print-argv >"$T_ROOT/argv" 2>"$err"
		accel=$(sed -n '/^-accel$/{n;p;}' "$T_ROOT/argv")
		"$BOTTLE" doctor >"$out" 2>"$err"
		check "doctor: the verdict vmboot cached" \
			grep -q "^KVM: .*(cached in $XDG_CACHE_HOME/bottle/vm/kvm-" "$out"
		if [ "$accel" = kvm ]; then
			check "doctor: KVM, as vmboot chose" grep -q "^accelerator: KVM" "$out"
		else
			check "doctor: TCG, as vmboot chose" grep -q "^accelerator: TCG" "$out"
		fi
	else
		check "doctor: /dev/kvm unusable, so TCG" grep -q "^accelerator: TCG" "$out"
	fi
	if ! grep -q "^accelerator: KVM" "$out"; then
		check "doctor: the TSC rate for TCG" grep -q "^TSC rate for TCG guests: [1-9][0-9]* kHz" "$out"
	fi
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
