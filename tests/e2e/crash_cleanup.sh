#!/bin/sh
# `bottle run` SIGKILLed at several points must leave nothing that
# `bottle cleanup` cannot find and remove.  BOTTLE_TEST_STOP_AT makes the
# launcher SIGSTOP itself at a named step, so the kill lands exactly there.
. "$(dirname "$0")/lib.sh"

proj=$(make_project proj)
cd "$proj" || exit 1
cat > bottle.yaml <<'Y'
agents:
  sleeper:
    command: [sleep, "6543"]
    bottle: dev
bottles:
  dev:
    limits: {memory: 256M, pids: 128}
Y

S="$XDG_STATE_HOME/bottle"

wait_stopped() { # wait until pid is in state T (stopped), up to 10 s
	for _ in $(seq 100); do
		st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
		[ "$st" = T ] && return 0
		[ -z "$st" ] && return 1
		sleep 0.1
	done
	return 1
}

leftovers() { # leftovers ID: print what is left of bottle ID's runtime
	id=$1
	pgrep -f "sleep 6543" >/dev/null && echo "agent process"
	if [ -n "${init_pid:-}" ] && [ -e "/proc/$init_pid" ] &&
		[ "$(awk '{print $22}' "/proc/$init_pid/stat" 2>/dev/null)" = "$init_start" ]; then
		echo "bottle-init process $init_pid"
	fi
	ls -d /sys/fs/cgroup/*/bottle/"$id" 2>/dev/null
	ls -d "$S/$id"/*.tmp "$S/$id"/.*.tmp.* 2>/dev/null
	ls "$S/$id/run/attach.sock" 2>/dev/null
	pgrep -f "bottle-bundle --state $S/$id " >/dev/null && echo "bundle process"
}

kill_at() { # kill_at STEP: launch, stop at STEP, SIGKILL, clean up, verify
	step=$1
	BOTTLE_TEST_STOP_AT=$step "$BOTTLE" run --yes </dev/null >/dev/null 2>&1 &
	pid=$!
	if [ "$step" = agent ]; then
		for _ in $(seq 100); do pgrep -f "sleep 6543" >/dev/null && break; sleep 0.1; done
	elif ! wait_stopped $pid; then
		fail "$step: launcher never reached the step"
		return
	fi
	kill -KILL $pid
	wait $pid 2>/dev/null
	sleep 0.3
	id=$(ls -t "$S" | head -1)
	[ -n "$id" ] || { fail "$step: no state dir recorded"; return; }
	init_pid=$(sed -n 's/.*"init:\([0-9]*\):\([0-9]*\)".*/\1/p' "$S/$id/meta.json")
	init_start=$(sed -n 's/.*"init:\([0-9]*\):\([0-9]*\)".*/\2/p' "$S/$id/meta.json")
	"$BOTTLE" cleanup </dev/null >"$T_ROOT/plan.out" 2>&1; rc=$?
	if [ -n "$(leftovers "$id")" ]; then
		check "$step: cleanup without --yes and a tty refuses (exit 2)" [ $rc -eq 2 ]
	fi
	"$BOTTLE" cleanup --yes >"$T_ROOT/clean.out" 2>&1
	for _ in $(seq 20); do # a killed process takes a moment to go
		left=$(leftovers "$id")
		[ -z "$left" ] && break
		sleep 0.1
	done
	check "$step: nothing left after cleanup ($(tr '\n' ' ' < "$T_ROOT/clean.out"))" [ -z "$left" ]
	[ -z "$left" ] || echo "$left"
	check "$step: ls does not claim it runs" sh -c "! \"\$BOTTLE\" ls | grep '^$id ' | grep -q running"
	"$BOTTLE" cleanup --yes >"$T_ROOT/clean2.out" 2>&1
	check "$step: a second cleanup finds nothing ($(tr "\n" " " <"$T_ROOT/clean2.out"))" grep -q "nothing to clean up" "$T_ROOT/clean2.out"
	"$BOTTLE" rm "$id" >/dev/null 2>&1
}

for step in state copied launch running agent; do
	kill_at $step
done

# A detached bottle whose monitor is SIGKILLed: its bundle dies with it
# (or cleanup kills the recorded one), and nothing is left.
id=$("$BOTTLE" run -d --yes </dev/null 2>/dev/null)
mon=$(sed -n 's/.*"monitor_pid": *\([0-9]*\).*/\1/p' "$S/$id/meta.json")
pgrep -f "bottle-bundle --state $S/$id " >/dev/null &&
	ok "monitor kill: the bundle runs" || fail "monitor kill: no bundle running"
[ -n "$mon" ] && kill -KILL "$mon"
sleep 0.5
echo "# monitor $mon killed; left: $(pgrep -af 'bottle' | grep -v crash_cleanup | tr '\n' ' ')"
"$BOTTLE" cleanup --yes >"$T_ROOT/clean.out" 2>&1
for _ in $(seq 20); do
	left=$(leftovers "$id"); [ -z "$left" ] && break; sleep 0.1
done
check "monitor kill: nothing left after cleanup" [ -z "$left" ]
[ -z "$left" ] || { echo "$left"; cat "$T_ROOT/clean.out"; }
"$BOTTLE" rm "$id" >/dev/null 2>&1

# After all that, a normal run still works.
out=$("$BOTTLE" run --yes -- echo fine </dev/null 2>/dev/null)
check "a bottle still runs afterwards" [ "$out" = fine ]
finish
