#!/bin/sh
# Agent I/O: pipes without a terminal, a pty with one (via script(1)),
# window size, exit codes and signals.
. "$(dirname "$0")/lib.sh"
proj=$(make_project proj)
cd "$proj" || exit 1

out=$(printf 'line1\nline2\n' | "$BOTTLE" run --yes -- cat 2>/dev/null)
check "stdin reaches the agent and stdout comes back (pipes)" [ "$out" = "$(printf 'line1\nline2')" ]
"$BOTTLE" run --yes -- sh -c 'echo out; echo err >&2' </dev/null >"$T_ROOT/o" 2>"$T_ROOT/e"
check "stdout and stderr stay apart" sh -c "grep -qx out '$T_ROOT/o' && grep -qx err '$T_ROOT/e' && ! grep -q err '$T_ROOT/o'"
big=$(head -c 3000000 /dev/zero | "$BOTTLE" run --yes -- wc -c 2>/dev/null)
check "a 3 MB stdin streams through" [ "$big" -eq 3000000 ]

# Input the agent is not reading yet must not stall its output: 2 MB in
# while it writes 3 MB before it reads anything.
out=$(head -c 2000000 /dev/zero | timeout 60 "$BOTTLE" run --yes -- sh -c 'head -c 3000000 /dev/zero; wc -c' 2>/dev/null | tail -c 20 | tr -d '\0')
check "heavy input and output at once do not deadlock" [ "$out" = 2000000 ]

if command -v script >/dev/null; then
	out=$(script -qec "stty cols 123 rows 45; \"$BOTTLE\" run --yes -- sh -c 'tty; stty size; exit 5'" /dev/null </dev/null 2>&1)
	printf '%s\n' "$out" >"$T_ROOT/pty.out"
	check "with a terminal the agent gets a pty from the bottle's devpts" grep -q '/dev/pts/0' "$T_ROOT/pty.out"
	check "the window size reaches the agent" grep -q '45 123' "$T_ROOT/pty.out"
	script -qec "\"$BOTTLE\" run --yes -- sh -c 'exit 5'" /dev/null </dev/null >/dev/null 2>&1; rc=$?
	check "the exit code comes back through the pty" [ $rc -eq 5 ]
	# ^C typed at the user's terminal reaches the agent as SIGINT.
	(sleep 1.5; printf '\003'; sleep 1) | script -qec "\"$BOTTLE\" run --yes -- sh -c 'trap \"echo got-int; exit 3\" INT; sleep 10 & wait'" /dev/null >"$T_ROOT/int" 2>&1; rc=$?
	check "Ctrl-C at the terminal interrupts the agent" sh -c "[ $rc -eq 3 ] && grep -aq got-int '$T_ROOT/int'"
else
	echo "# script(1) missing: pty checks skipped"
fi

# SIGTERM to `bottle run` reaches the agent, which can react.
"$BOTTLE" run --yes -- sh -c 'trap "echo got-term; exit 9" TERM; while :; do sleep 0.1; done' </dev/null >"$T_ROOT/sig" 2>/dev/null &
pid=$!
sleep 1.5
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM is forwarded to the agent" grep -q got-term "$T_ROOT/sig"
check "and its exit code comes back" [ $rc -eq 9 ]
finish
