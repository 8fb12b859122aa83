#!/bin/sh
# A vm bottle end to end, under TCG (so the result does not depend on the
# host's KVM): the agent runs in the guest with the guest's kernel, as the
# agent's uid, on the host's /usr read-only and the workspace read-write;
# `bottle exec` and `bottle cp` reach it over the control channel; the
# probe suite passes inside the guest; a missing or unbootable kernel and
# a guest that never answers get clear errors and leave nothing running.
. "$(dirname "$0")/lib.sh"

need_vm
[ "$(id -u)" -eq 0 ] || skip_all "the vm backend needs root"
export XDG_CACHE_HOME="$T_ROOT/cache"
release=${kernel#/boot/vmlinuz-}

# Wait (bounded) until leftovers() is empty: virtiofsd's sandboxed child
# follows its parent a moment later.
gone() {
	for i in $(seq 100); do [ -z "$(leftovers)" ] && return 0; sleep 0.1; done
	leftovers
	return 1
}

# Nothing of a bottle's runtime may outlive it: no QEMU, no virtiofsd, no
# keeper or relay whose command line or environment names the test's dir.
leftovers() {
	for p in /proc/[0-9]*; do
		cat "$p/cmdline" "$p/environ" 2>/dev/null | tr '\0' ' ' |
			grep -q "$T_ROOT" || continue
		comm=$(cat "$p/comm" 2>/dev/null)
		case $comm in
		qemu-system-*|virtiofsd|bottle-vm*) echo "${p#/proc/} $comm" ;;
		esac
	done
}

write_manifest() { # write_manifest DIR [VM-OPTIONS] [COMMAND]
	git init -q --bare "$1/up.git"
	cat > "$1/bottle.yaml" <<Y
agents:
  guest:
    command: ${3:-[sleep, "600"]}
    bottle: dev
bottles:
  dev:
    backend: vm
    vm: {accel: tcg${2:+, $2}}
    limits: {memory: 512M, pids: 128}
    supervise: true
    git: {upstreams: [{name: origin, url: "$1/up.git"}]}
Y
}

proj=$(make_project proj)
write_manifest "$proj" "" \
	'[sh, -c, "echo hello from $(uname -r) as $(id -u) in $(pwd); cat file.txt; echo changed > file.txt; touch /usr/x 2>&1; exit 7"]'
cd "$proj" || exit 1

# 1. The agent in the guest, in the foreground, no terminal.
"$BOTTLE" run --yes </dev/null >"$T_ROOT/run.out" 2>"$T_ROOT/run.err"; rc=$?
cat "$T_ROOT/run.out"
check "the agent's exit code comes back (7)" [ $rc -eq 7 ]
[ $rc -eq 7 ] || cat "$T_ROOT/run.err"
check "it ran on the guest's kernel, as the agent, in the workspace" \
	grep -q "^hello from $release as 1000 in /workspace$" "$T_ROOT/run.out"
check "it read the workspace copy" grep -qx original "$T_ROOT/run.out"
check "/usr is read-only in the guest" grep -q "Read-only file system" "$T_ROOT/run.out"
id=$(bottle_ids | head -1)
check "its write landed in the workspace copy on the host" \
	grep -qx changed "$XDG_STATE_HOME/bottle/$id/workspace/file.txt"
check "the user's own file is untouched" grep -qx original "$proj/file.txt"
owner=$(stat -c %u "$XDG_STATE_HOME/bottle/$id/workspace/file.txt")
check "the agent's file is owned by the agent's host uid ($owner)" [ "$owner" = 1879048192 ]
check "the guest's console log is kept" [ -s "$XDG_STATE_HOME/bottle/$id/logs/vm-console.log" ]
check "nothing of it is left running" gone

# 2. A detached bottle: exec, cp, the probe suite, stop.
proj2=$(make_project proj2)
write_manifest "$proj2"
cd "$proj2" || exit 1
id=$("$BOTTLE" run -d --yes 2>"$T_ROOT/run2.err")
[ -n "$id" ] || { cat "$T_ROOT/run2.err"; fail "a detached vm bottle starts"; finish; }
out=$("$BOTTLE" exec "$id" -- sh -c 'cat /proc/sys/kernel/osrelease; id -un; echo $HTTPS_PROXY' 2>&1)
echo "$out"
check "exec runs in the guest" [ "$(echo "$out" | head -1)" = "$release" ]
check "exec runs as the agent" [ "$(echo "$out" | sed -n 2p)" = agent ]
check "the proxy is at the gateway" [ "$(echo "$out" | sed -n 3p)" = "http://10.0.2.1:8888" ]
printf 'copied in\n' > "$T_ROOT/in.txt"
check "cp into the guest" "$BOTTLE" cp "$T_ROOT/in.txt" "$id:/workspace/in.txt"
check "the copy is there" [ "$("$BOTTLE" exec "$id" -- cat /workspace/in.txt)" = "copied in" ]
"$BOTTLE" exec "$id" -- sh -c 'exit 3'
check "exec's exit code comes back" [ $? -eq 3 ]
check "stdin reaches an exec'd command" \
	[ "$(printf 'abc' | "$BOTTLE" exec -T "$id" -- wc -c | tr -d ' ')" = 3 ]
"$BOTTLE" probe "$id" >"$T_ROOT/probe.out" 2>&1
cat "$T_ROOT/probe.out"
if grep -q " 0 failed" "$T_ROOT/probe.out" && grep -q "passed" "$T_ROOT/probe.out"; then
	ok "the probe suite passes in the guest: $(tail -1 "$T_ROOT/probe.out")"
else
	fail "the probe suite in the guest: $(tail -1 "$T_ROOT/probe.out")"
fi
"$BOTTLE" stop "$id" >/dev/null
check "stop ends it, leaving nothing running" gone

# The agent on a pty (script(1)): the guest's pty, the window size, the
# exit code, ^C at the terminal and SIGTERM to `bottle run`.  The agent
# says it is ready with a marker file in its workspace.
waitmark() { # waitmark NAME: until some bottle's workspace has NAME
	for i in $(seq 600); do
		ls "$XDG_STATE_HOME"/bottle/*/workspace/"$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
if command -v script >/dev/null; then
	out=$(script -qec "stty cols 123 rows 45; \"$BOTTLE\" run --yes -- sh -c 'tty; stty size; exit 5'" /dev/null </dev/null 2>&1); rc=$?
	printf '%s\n' "$out" | tee "$T_ROOT/pty.out"
	check "with a terminal the agent gets a pty in the guest" grep -q '/dev/pts/' "$T_ROOT/pty.out"
	check "the window size reaches the agent" grep -q '45 123' "$T_ROOT/pty.out"
	check "the exit code comes back through the pty" [ $rc -eq 5 ]
	(waitmark int-ready; printf '\003'; sleep 2) | script -qec "\"$BOTTLE\" run --yes -- sh -c 'trap \"echo got-int; exit 3\" INT; touch /workspace/int-ready; sleep 60 & wait'" /dev/null >"$T_ROOT/int" 2>&1; rc=$?
	check "Ctrl-C at the terminal interrupts the agent" sh -c "[ $rc -eq 3 ] && grep -aq got-int '$T_ROOT/int'"
fi
"$BOTTLE" run --yes -- sh -c 'trap "echo got-term; exit 9" TERM; touch /workspace/term-ready; while :; do sleep 0.1; done' </dev/null >"$T_ROOT/sig" 2>/dev/null &
pid=$!
waitmark term-ready
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM reaches the agent in the guest" grep -q got-term "$T_ROOT/sig"
check "and its exit code comes back" [ $rc -eq 9 ]
check "nothing of them is left running" gone

# 3. SIGKILL of the monitor, running and booting: its keeper, QEMU and
# virtiofsds go with it.
id=$("$BOTTLE" run -d --yes 2>"$T_ROOT/run3.err")
mon=$(sed -n 's/.*"monitor_pid": *\([0-9]*\).*/\1/p' "$XDG_STATE_HOME/bottle/$id/meta.json")
check "the vm runs ($(leftovers | wc -l) processes)" [ -n "$(leftovers)" ]
[ -n "$mon" ] && kill -9 "$mon"
check "SIGKILL of the monitor leaves no QEMU, virtiofsd or keeper" gone
# ...and while the guest is still booting (QEMU up, no agent yet).
"$BOTTLE" run -d --yes >/dev/null 2>&1 &
for i in $(seq 200); do
	leftovers | grep -q qemu-system && break
	sleep 0.05
done
id=$(ls -t "$XDG_STATE_HOME/bottle" | head -1)
mon=$(sed -n 's/.*"monitor_pid": *\([0-9]*\).*/\1/p' "$XDG_STATE_HOME/bottle/$id/meta.json")
check "the second vm is booting" [ -n "$mon" ]
[ -n "$mon" ] && kill -9 "$mon"
wait
check "SIGKILL of the monitor during the boot leaves nothing running" gone
"$BOTTLE" cleanup --yes >/dev/null 2>&1
check "cleanup then finds the bottles ended" sh -c "! '$BOTTLE' ls | grep -q running"

# 4. Bad input: a clear error, exit 1, nothing left.
mkdir -p "$T_ROOT/badk" && write_manifest "$T_ROOT/badk" "kernel: /nonexistent/vmlinuz"
cd "$T_ROOT/badk" && "$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/bad.err"; rc=$?
cat "$T_ROOT/bad.err"
check "a missing kernel: exit 1" [ $rc -eq 1 ]
check "a missing kernel: named" grep -q "/nonexistent/vmlinuz" "$T_ROOT/bad.err"
mkdir -p "$T_ROOT/badk2" && write_manifest "$T_ROOT/badk2" "kernel: $proj/file.txt"
cd "$T_ROOT/badk2" && "$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/bad2.err"; rc=$?
cat "$T_ROOT/bad2.err"
check "not a kernel: exit 1" [ $rc -eq 1 ]
check "not a kernel: said so" grep -q "bzImage" "$T_ROOT/bad2.err"
mkdir -p "$T_ROOT/silent" && write_manifest "$T_ROOT/silent"
cd "$T_ROOT/silent" && BOTTLE_VM_TIMEOUT=3 BOTTLE_TEST_GUEST=silent \
	"$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/silent.err"; rc=$?
cat "$T_ROOT/silent.err"
check "a guest that never answers: exit 1" [ $rc -eq 1 ]
check "a guest that never answers: a timeout naming the control channel" \
	grep -q "did not answer on the control channel" "$T_ROOT/silent.err"
check "and nothing is left running" gone

# 5. The guest's kernel panics, or its QEMU or keeper is killed: the
# bottle ends with the reason, the host carries on, nothing is left.
mkdir -p "$T_ROOT/panic" && write_manifest "$T_ROOT/panic"
cd "$T_ROOT/panic" && BOTTLE_TEST_GUEST=panic \
	"$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/panic.err"; rc=$?
cat "$T_ROOT/panic.err"
check "a guest kernel panic ends the bottle (exit 125)" [ $rc -eq 125 ]
check "with the panic's own line" grep -q "Kernel panic - not syncing" "$T_ROOT/panic.err"
check "and nothing is left running" gone
for victim in qemu-system-x86 bottle-vm; do
	cd "$proj2" || exit 1
	id=$("$BOTTLE" run -d --yes 2>/dev/null)
	pid=""
	for p in $(leftovers | awk -v c="$victim" '$2 == c {print $1}'); do pid=$p; done
	[ -n "$pid" ] && kill -9 "$pid"
	for i in $(seq 100); do
		"$BOTTLE" ls 2>/dev/null | grep "$id" | grep -q running || break
		sleep 0.1
	done
	check "SIGKILL of $victim ends the bottle" sh -c "! '$BOTTLE' ls | grep '$id' | grep -q running"
	check "and leaves nothing running" gone
done
finish
