#!/bin/sh
# The CLI surface: help, version, exit codes, run/exec/ls/stop/resume/rm.
. "$(dirname "$0")/lib.sh"

proj=$(make_project proj)
cd "$proj" || exit 1

check "--version prints the version" sh -c '"$BOTTLE" --version | grep -q "^bottle [0-9]"'
for c in run plan ls ps exec cp attach stop resume rm logs cleanup doctor probe; do
	check "$c --help" sh -c "\"\$BOTTLE\" $c --help | grep -q '^usage: bottle $c'"
done
"$BOTTLE" frobnicate >/dev/null 2>&1; check "unknown command exits 2" [ $? -eq 2 ]
"$BOTTLE" exec nosuchbottle -- true >/dev/null 2>"$T_ROOT/err"; rc=$?
check "unknown bottle id exits 1" [ $rc -eq 1 ]
check "unknown bottle id says so" grep -q 'no bottle "nosuchbottle"' "$T_ROOT/err"

# No terminal and no --yes: refuse, create nothing.
"$BOTTLE" run -- true </dev/null >/dev/null 2>"$T_ROOT/err"; rc=$?
check "run without a tty or --yes refuses (exit 2)" [ $rc -eq 2 ]
check "the refusal explains --yes" grep -q -- "--yes" "$T_ROOT/err"
check "the refusal created no state" [ -z "$(bottle_ids)" ]

check "plan prints the filesystem ops" sh -c '"$BOTTLE" plan -- true | grep -q "ro-bind     /usr"'

"$BOTTLE" run --yes -- sh -c 'exit 7' </dev/null >/dev/null 2>&1; rc=$?
check "run returns the agent's exit code" [ $rc -eq 7 ]
"$BOTTLE" run --yes -- /nonexistent/cmd </dev/null >/dev/null 2>"$T_ROOT/err"; rc=$?
check "a missing command exits 127" [ $rc -eq 127 ]
check "and says why" grep -q "cannot run /nonexistent/cmd" "$T_ROOT/err"

# The agent's env is an allowlist.
export AWS_SECRET_ACCESS_KEY=host-secret-value SOMETHING_ELSE=x
out=$("$BOTTLE" run --yes -- env </dev/null 2>/dev/null)
check "host env does not leak into the agent" sh -c "! echo '$out' | grep -q -e host-secret-value -e SOMETHING_ELSE"
check "the agent gets HOME and BOTTLE_ID" sh -c "echo '$out' | grep -q '^HOME=/home/agent' && echo '$out' | grep -q '^BOTTLE_ID='"

# Workspace copy keeps modes, symlinks and .git; the original is untouched.
out=$("$BOTTLE" run --yes -- sh -c 'test -x sub/run.sh && test -L link && test -d .git && git log --oneline | wc -l && echo changed > file.txt && cat file.txt' </dev/null 2>/dev/null)
check "workspace keeps exec bits, symlinks and .git" sh -c "echo '$out' | head -1 | grep -q '^1$'"
check "writes land in the copy" sh -c "echo '$out' | grep -q changed"
check "the host's cwd is untouched" grep -q original "$proj/file.txt"

# Detached: ls, exec, stop, resume, rm.
cat > bottle.yaml <<'Y'
agents:
  sleeper:
    command: [sleep, "300"]
Y
id=$("$BOTTLE" run -d --yes 2>/dev/null)
check "run -d prints the id" [ -n "$id" ]
check "ls shows it running" sh -c "\"\$BOTTLE\" ls | grep '^$id ' | grep -q running"
check "ls --json is JSON with the id" sh -c "\"\$BOTTLE\" ls --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(b[\"id\"]==\"$id\" and b[\"status\"]==\"running\" for b in d)'"
check "exec runs inside as the agent" sh -c "\"\$BOTTLE\" exec $id -- id -u </dev/null | grep -qx 1000"
check "exec gets the agent's env" sh -c "\"\$BOTTLE\" exec $id -- sh -c 'echo \$BOTTLE_ID' </dev/null | grep -qx $id"
check "exec by unique prefix" sh -c "\"\$BOTTLE\" exec ${id%??} -- true </dev/null"
"$BOTTLE" exec "$id" -- sh -c 'echo kept > ~/note' </dev/null
"$BOTTLE" exec "$id" -- sh -c 'exit 3' </dev/null; rc=$?
check "exec returns the command's exit code" [ $rc -eq 3 ]
echo copied-in > "$T_ROOT/cpsrc"
check "cp copies a host file in, owned by the agent" sh -c "\"\$BOTTLE\" cp '$T_ROOT/cpsrc' $id:/home/agent/in.txt && \"\$BOTTLE\" exec $id -- sh -c 'cat ~/in.txt; stat -c %u ~/in.txt' </dev/null | tr '\n' ' ' | grep -q 'copied-in 1000'"
"$BOTTLE" exec "$id" -- ln -s /proc/1/root/etc /home/agent/esc </dev/null
"$BOTTLE" cp "$T_ROOT/cpsrc" "$id:/home/agent/esc/x" 2>/dev/null; rc=$?
check "cp refuses a path through a symlink" [ $rc -eq 1 ]
"$BOTTLE" cp "$T_ROOT/cpsrc" "$id:relative" 2>/dev/null; rc=$?
check "cp wants an absolute path (exit 2)" [ $rc -eq 2 ]
check "stop stops it" "$BOTTLE" stop "$id"
check "ls shows it stopped" sh -c "\"\$BOTTLE\" ls | grep '^$id ' | grep -q stopped"
"$BOTTLE" exec "$id" -- true </dev/null >/dev/null 2>&1; rc=$?
check "exec into a stopped bottle exits 1" [ $rc -eq 1 ]
flock "$XDG_STATE_HOME/bottle/$id/owner.lock" sleep 2 &
sleep 0.3
"$BOTTLE" resume --yes "$id" -- true </dev/null >/dev/null 2>"$T_ROOT/own.err"; rc=$?
check "resume refuses a bottle another process owns" sh -c "[ $rc -eq 1 ] && grep -q 'owns it' '$T_ROOT/own.err'"
wait
out=$("$BOTTLE" resume --yes "$id" -- cat /home/agent/note </dev/null 2>/dev/null)
check "resume keeps the home" [ "$out" = kept ]
check "rm deletes the state" sh -c "\"\$BOTTLE\" rm $id >/dev/null && ! ls \"\$XDG_STATE_HOME\" | grep -q $id"

# Manifest mounts: read-only and read-write binds of host paths.
mkdir -p "$T_ROOT/ro" "$T_ROOT/rw" "$T_ROOT/outside"
echo data > "$T_ROOT/ro/f"
chmod 777 "$T_ROOT/rw" # as root, the agent is an unprivileged host uid
cat > bottle.yaml <<Y
agents:
  m:
    command: [sh, -c, "cat /mnt/ro/f && ! touch /mnt/ro/x 2>/dev/null && touch /mnt/rw/made"]
bottles:
  b:
    mounts:
      - {source: $T_ROOT/ro, target: /mnt/ro}
      - {source: $T_ROOT/rw, target: /mnt/rw, mode: rw}
Y
out=$("$BOTTLE" run --yes </dev/null 2>/dev/null); rc=$?
check "manifest mounts: ro readable but not writable, rw writable" sh -c "[ $rc -eq 0 ] && [ '$out' = data ] && [ -e '$T_ROOT/rw/made' ]"

# A bind source swapped for a symlink after the plan is refused.
BOTTLE_TEST_STOP_AT=launch "$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/swap.err" &
pid=$!
for _ in $(seq 100); do [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break; sleep 0.1; done
mv "$T_ROOT/rw" "$T_ROOT/rw.real" && ln -s "$T_ROOT/outside" "$T_ROOT/rw"
kill -CONT $pid; wait $pid; rc=$?
check "a bind source that became a symlink is refused" sh -c "[ $rc -ne 0 ] && grep -q 'symlink appeared' '$T_ROOT/swap.err'"
rm "$T_ROOT/rw"; mv "$T_ROOT/rw.real" "$T_ROOT/rw"

# A detached launch that fails says why on the terminal.
printf 'agents:\n  m:\n    command: [true]\nbottles:\n  b:\n    mounts: [{source: %s/gone, target: /gone}]\n' "$T_ROOT" > bottle.yaml
"$BOTTLE" run -d --yes </dev/null >/dev/null 2>"$T_ROOT/d.err"; rc=$?
check "run -d reports a failed launch (exit 1, with the reason)" sh -c "[ $rc -eq 1 ] && grep -q 'bind source .*gone' '$T_ROOT/d.err'"

# With copy_cwd off, mount sources inside the cwd are refused.
mkdir -p cache
printf 'agents:\n  m:\n    command: [true]\nbottles:\n  b:\n    copy_cwd: false\n    mounts: [{source: ./cache, target: /cache, mode: rw}]\n' > bottle.yaml
"$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/in.err"; rc=$?
check "bind mode refuses mount sources inside the cwd (exit 2)" sh -c "[ $rc -eq 2 ] && grep -q 'inside the working directory' '$T_ROOT/in.err'"
printf 'agents:\n  m:\n    command: [true]\nbottles:\n  b:\n    copy_cwd: false\n' > bottle.yaml
check "bind mode warns that the manifest is agent-writable" sh -c '"$BOTTLE" plan | grep -q "note .*inside the directory the agent"'
rm -rf cache

# attach: input reaches a detached agent, output and exit code come back;
# Ctrl-P Ctrl-Q detaches and leaves it running.
cat > bottle.yaml <<'Y'
agents:
  reader:
    command: [sh, -c, "read x; echo got:$x; read y; exit 4"]
Y
id=$("$BOTTLE" run -d --yes 2>/dev/null)
out=$( (printf 'hi\n'; sleep 1; printf '\020\021') | timeout 10 "$BOTTLE" attach "$id"); rc=$?
check "attach relays to the agent" sh -c "echo '$out' | grep -q got:hi"
check "Ctrl-P Ctrl-Q detaches (exit 0)" [ $rc -eq 0 ]
check "the bottle runs on after detach" sh -c "\"\$BOTTLE\" ls | grep '^$id ' | grep -q running"
printf 'bye\n' | timeout 10 "$BOTTLE" attach "$id" >/dev/null; rc=$?
check "attach returns the agent's exit code" [ $rc -eq 4 ]
check "logs shows the console" sh -c "\"\$BOTTLE\" logs $id | grep -q got:hi"

# logs on a terminal: escape sequences an agent printed (a window title,
# the clipboard through OSC 52, a cleared screen) are shown, not obeyed;
# piped, the log is as it was.
cat > bottle.yaml <<'Y'
agents:
  noisy:
    command: [sh, -c, "printf 'evil \\033]0;title\\007 \\033]52;c;ZXZpbA==\\007 \\033[2J\\r\\302\\233 end\\n'"]
Y
nid=$("$BOTTLE" run -d --yes 2>/dev/null)
logged() { "$BOTTLE" logs "$nid" | grep -q ' end'; }
i=0; until logged || [ $i -ge 100 ]; do i=$((i + 1)); sleep 0.1; done
python3 "$(dirname "$0")/pty_run.py" "$BOTTLE" logs "$nid" >"$T_ROOT/logs.tty"
check "logs on a terminal: escapes shown, not sent" python3 -c 'import sys
b = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
sys.exit(not (b"evil \\x1b]0;title\\x07 \\x1b]52;c;ZXZpbA==\\x07 \\x1b[2J\\x0d\\u009b end" in b
  and b"\x1b" not in b and b"\r" not in b and b"\xc2\x9b" not in b
  and b"end\\x0d" not in b))' "$T_ROOT/logs.tty"
check "logs piped: the bytes as they were" sh -c "\"\$BOTTLE\" logs $nid | grep -q \"\$(printf '\\033]52;c;')\""
check "doctor reports the ns backend usable" sh -c "\"\$BOTTLE\" doctor | grep -q 'backend ns: usable'"
check "doctor names the bundle and git" sh -c "\"\$BOTTLE\" doctor | grep -q '^bundle: /.*bottle-bundle\$' && \"\$BOTTLE\" doctor | grep -q '^git (the git gate.*): /'"
check "doctor says when git is missing" sh -c "PATH=/nonexistent \"\$BOTTLE\" doctor | grep -q '^git .*: not found'"
# The vm backend's report (tests/e2e/vm_boot.sh checks it where QEMU is).
check "doctor has a vm backend report" sh -c "\"\$BOTTLE\" doctor | grep -q '^backend vm: '"
check "doctor says when QEMU is missing, and what it means" sh -c "PATH=/nonexistent \"\$BOTTLE\" doctor | grep -q '^qemu: qemu-system-x86_64 not found in PATH (apt install qemu-system-x86): no vm bottle can start'"
mkdir -p "$T_ROOT/lone"
cp "$BOTTLE" "$T_ROOT/lone/bottle"
check "doctor says when bottle-init is missing" sh -c "\"$T_ROOT/lone/bottle\" doctor | grep -q '^bottle-init: not found next to bottle'"

# A route whose secret is missing fails before anything is created.
cat > bottle.yaml <<'Y'
agents:
  a: {command: [true], bottle: b}
bottles:
  b:
    egress:
      routes: [{host: api.x.test, header: x-api-key, value: "${env:BOTTLE_E2E_UNSET}"}]
Y
n0=$(bottle_ids | wc -l)
"$BOTTLE" run --yes >/dev/null 2>"$T_ROOT/route.err"; rc=$?
check "a route with an unset \${env:} is a usage error (exit 2)" [ $rc -eq 2 ]
check "... naming the route and the variable" grep -q 'route api.x.test: ${env:BOTTLE_E2E_UNSET} is not set' "$T_ROOT/route.err"
check "... and creates nothing" [ "$(bottle_ids | wc -l)" -eq "$n0" ]
BOTTLE_E2E_UNSET=x-secret-value-123 "$BOTTLE" run --yes -- sh -c 'echo "$HTTPS_PROXY"' >"$T_ROOT/route.out" 2>/dev/null
check "with it set, the bottle runs behind the proxy" grep -qx 'http://127.0.0.1:8888' "$T_ROOT/route.out"
# A secret so short that the DLP would find it everywhere stops the bottle.
BOTTLE_E2E_UNSET=short timeout 20 "$BOTTLE" run --yes -- sleep 30 >/dev/null 2>"$T_ROOT/short.err"; rc=$?
check "a 5-byte injected secret fails the run (exit 1)" [ $rc -eq 1 ]
check "... saying why" grep -q 'injected secret #1 is shorter than 8 bytes' "$T_ROOT/short.err"

# A bundle that cannot start (a broken DLP pattern) stops its bottle with
# the reason; the agent never gets a bottle without its bundle.
cat > bottle.yaml <<'Y'
agents:
  a: {command: [sleep, "30"], bottle: b}
bottles:
  b:
    egress:
      dlp: {patterns: [{name: broken-one, regex: "ab(c"}]}
Y
timeout 20 "$BOTTLE" run --yes >/dev/null 2>"$T_ROOT/dlp.err"; rc=$?
check "a bundle that fails to start fails the run (exit 1)" [ $rc -eq 1 ]
check "... saying why" grep -q 'dlp pattern broken-one' "$T_ROOT/dlp.err"
finish
