#!/bin/bash
# demo/run.sh BUILD_DIR: what a bottle allows and what it blocks, in a few
# seconds, offline, with a real bottle and a scripted agent (demo/agent.sh).
#
# It makes a throw-away project (a small git repo) inside a throw-away $HOME
# that holds a fake ~/.aws/credentials, exports a dummy secret, starts a TCP
# listener on the host's 127.0.0.1 and a stand-in HTTPS API (demo/api.py,
# reached only through the bundle, which injects its token), and runs the
# agent in a bottle.  Then it
# checks from the host side that the project was not touched, runs the
# probe suite on a detached bottle, lists, stops and removes the bottles.
# Everything lives in one temp dir, removed at the end (DEMO_KEEP=1 keeps
# it).  Exit status: 0 if everything that should be blocked was blocked and
# everything that should work worked; 1 otherwise.
#
# Works as root and as an ordinary user.  No network is needed or used:
# the only connections made are to 127.0.0.1.

set -u

usage() {
	echo "usage: demo/run.sh BUILD_DIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage
[ -x "$1/bottle" ] || {
	echo "demo: no bottle binary in $1 (run make first)" >&2
	exit 2
}

BOTTLE=$(cd "$1" && pwd)/bottle
DEMO=$(cd "$(dirname "$0")" && pwd)
START=$(date +%s.%N)

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	COLOR=1
	G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' D=$'\e[2m' B=$'\e[1m' N=$'\e[0m'
else
	COLOR=0
	G='' R='' Y='' D='' B='' N=''
fi

failures=0
fail() {
	failures=$((failures + 1))
	printf '  %s%s!! %s%s\n' "$R" "$B" "$*" "$N"
}
ok() { printf '  %s✔%s %s\n' "$G" "$N" "$*"; }
section() { printf '\n%s== %s ==%s\n' "$B$Y" "$*" "$N"; }
run() { # show a command, then run it
	printf '%s$ %s%s\n' "$D" "$*" "$N"
	"$@"
}

# --- a throw-away world ---------------------------------------------------
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/bottle-demo.XXXXXX") || exit 1
LISTENER=
IDS=()

cleanup() {
	local id
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	[ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
	for id in ${IDS[@]+"${IDS[@]}"}; do
		"$BOTTLE" rm -f "$id" >/dev/null 2>&1
	done
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo "demo: kept $ROOT" >&2
	else
		chmod -R u+rwX "$ROOT" 2>/dev/null
		rm -rf "$ROOT"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REAL_HOME=${HOME:-/}
export HOME=$ROOT/home
export XDG_STATE_HOME=$ROOT/state
export XDG_CONFIG_HOME=$HOME/.config
PROJECT=$HOME/src/demo-project
mkdir -p "$HOME/.aws" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$PROJECT"

# Secrets a careless sandbox would hand to the agent.
SECRET=demo-secret-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
export AWS_ACCESS_KEY_ID=AKIADEMODEMODEMO0000
export AWS_SECRET_ACCESS_KEY=$SECRET
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$AWS_ACCESS_KEY_ID" "$SECRET" >"$HOME/.aws/credentials"
chmod 600 "$HOME/.aws/credentials"

# A listener on the host's loopback; the bottle must not reach it.  It
# answers whoever connects and logs each connection.  Its command line
# carries a word the agent looks for in ps.
PORT_FILE=$ROOT/listener.port
CONN_LOG=$ROOT/listener.log
: >"$CONN_LOG"
if command -v perl >/dev/null 2>&1; then
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
			LocalPort => 0, Listen => 5) or die "listen: $!\n";
		open(my $f, ">", $ARGV[0]) or die; print $f $s->sockport, "\n";
		close $f;
		while (my $c = $s->accept) {
			open(my $l, ">>", $ARGV[1]); print $l "connection\n";
			close $l; print $c "hello from the host\n"; close $c;
		}' "$PORT_FILE" "$CONN_LOG" bottle-demo-host-listener &
	LISTENER=$!
elif command -v python3 >/dev/null 2>&1; then
	python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
while True:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("connection\n")
    c.sendall(b"hello from the host\n"); c.close()
' "$PORT_FILE" "$CONN_LOG" bottle-demo-host-listener &
	LISTENER=$!
fi
PORT=
for _ in $(seq 50); do
	[ -s "$PORT_FILE" ] && PORT=$(cat "$PORT_FILE") && break
	sleep 0.1
done

# An "API" on the host's 127.0.0.1, over HTTPS with a demo CA, standing in
# for api.example.com.  Only the bundle (on the host) holds its token; the
# agent gets a placeholder, and the manifest pins the name to 127.0.0.1.
API_TOKEN=demo-api-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export DEMO_API_TOKEN=$API_TOKEN
API_PORT=
API_PID=
API_LOG=$ROOT/api.log
: >"$API_LOG"
if (cd "$ROOT" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out demo-ca.crt -days 1 -subj "/CN=bottle demo CA" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout api.key -out api.csr -subj "/CN=api.demo.test" &&
	printf 'subjectAltName=DNS:api.demo.test\n' >api.ext &&
	openssl x509 -req -in api.csr -CA demo-ca.crt -CAkey ca.key \
		-CAcreateserial -days 1 -extfile api.ext -out api.crt) >"$ROOT/openssl.log" 2>&1; then
	python3 "$DEMO/api.py" "$ROOT/api.crt" "$ROOT/api.key" "$API_TOKEN" \
		"$ROOT/api.port" "$API_LOG" &
	API_PID=$!
	for _ in $(seq 50); do
		[ -s "$ROOT/api.port" ] && API_PORT=$(cat "$ROOT/api.port") && break
		sleep 0.1
	done
fi

# The project: a README, a commit, the agent script and the manifest.
cp "$DEMO/agent.sh" "$PROJECT/agent.sh"
printf '# demo project\n\nA throw-away repository for the bottle demo.\n' \
	>"$PROJECT/README.md"
cat >"$PROJECT/bottle.yaml" <<EOF
# Written by demo/run.sh.
agents:
  demo:
    command: [bash, /workspace/agent.sh, "$COLOR", "${PORT:-1}", "$HOME", "$REAL_HOME", "${API_PORT:-1}"]
  idle:
    command: [sleep, "300"]
bottles:
  default:
    backend: ns
    limits: {pids: 64, memory: 256M}
    egress:
      allow: ["api.demo.test:${API_PORT:-1}"]
      routes:
        - host: api.demo.test
          header: Authorization
          value: "Bearer \${env:DEMO_API_TOKEN}"
          placeholder_env: DEMO_API_TOKEN
      resolve: {api.demo.test: 127.0.0.1}
      ca: $ROOT/demo-ca.crt
EOF
hgit() { git -c user.name=demo -c user.email=demo@example.invalid \
	-c init.defaultBranch=main -c 'safe.directory=*' "$@"; }
(cd "$PROJECT" && hgit init -q && hgit add . && hgit commit -q -m "initial commit") || {
	echo "demo: could not make the git repository" >&2
	exit 1
}
cp "$PROJECT/README.md" "$ROOT/README.orig"
cd "$PROJECT" || exit 1

section "the setup (on the host)"
echo "  project   $PROJECT (git repo, 1 commit)"
echo "  secrets   $HOME/.aws/credentials, AWS_SECRET_ACCESS_KEY=${SECRET:0:16}... exported"
if [ -n "$PORT" ] && out=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && head -n 1 <&3); then
	echo "  listener  127.0.0.1:$PORT on the host (from here it answers: \"$out\")"
else
	fail "could not start a listener on 127.0.0.1 (perl or python3 needed)"
	PORT=
fi
if [ -n "$API_PORT" ]; then
	echo "  api       https://api.demo.test:$API_PORT (on 127.0.0.1; token ${API_TOKEN:0:20}... exported, for the bundle)"
else
	fail "could not start the demo API (openssl and python3 needed)"
fi
echo "  manifest  ./bottle.yaml:"
sed -n '/^agents:/,$p' bottle.yaml | sed 's/^/              /'

section "the plan (bottle plan demo; the filesystem list is cut)"
run "$BOTTLE" plan demo | sed '/filesystem/,$d'

# --- 1. the agent -----------------------------------------------------------
section "1. the scripted agent, inside a bottle (bottle run --yes demo)"
printf '%s$ %s%s\n' "$D" "$BOTTLE run --yes demo" "$N"
"$BOTTLE" run --yes demo </dev/null 2>"$ROOT/run.err"
rc=$?
ID=$("$BOTTLE" ls --json 2>/dev/null | tr '{' '\n' | grep '"agent":"demo"' |
	sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$ID" ] && IDS+=("$ID")
if [ $rc -ne 0 ]; then
	fail "bottle run exited with $rc"
	grep '^bottle:' "$ROOT/run.err" | sed 's/^/    /'
fi

section "1b. back on the host"
STATE=$XDG_STATE_HOME/bottle/$ID
if [ -z "$ID" ] || [ ! -d "$STATE" ]; then
	fail "no state dir for the demo bottle"
else
	if cmp -s README.md "$ROOT/README.orig"; then
		ok "your README.md is untouched"
	else
		fail "the host's README.md changed"
	fi
	if grep -q 'Edited by the demo agent' "$STATE/workspace/README.md" 2>/dev/null; then
		ok "the agent's edit is in the bottle's copy: $STATE/workspace/README.md"
	else
		fail "the agent's edit is not in the bottle's copy"
	fi
	host_commits=$(hgit rev-list --count HEAD 2>/dev/null)
	copy_commits=$(hgit -C "$STATE/workspace" rev-list --count HEAD 2>/dev/null)
	if [ "$host_commits" = 1 ] && [ "$copy_commits" = 2 ]; then
		ok "your repo still has 1 commit; the copy has the agent's 2nd"
	else
		fail "commits: host $host_commits (want 1), copy $copy_commits (want 2)"
	fi
	if [ -s "$STATE/home/notes.txt" ]; then
		ok "the agent's home persists: $STATE/home/notes.txt"
	else
		fail "the agent's \$HOME/notes.txt is not in the state dir"
	fi
fi
if [ -n "$PORT" ]; then
	n=$(wc -l <"$CONN_LOG")
	if [ "$n" = 1 ]; then
		ok "the listener on 127.0.0.1:$PORT saw only the host's own test connection"
	else
		fail "the listener on 127.0.0.1:$PORT saw $n connections (want 1)"
	fi
fi
if [ -n "$API_PORT" ]; then
	if grep -q 'auth=the real token' "$API_LOG" &&
		! grep -qv 'auth=the real token' "$API_LOG"; then
		ok "the API saw the real token on every request; the agent held a placeholder"
	else
		fail "the API log: $(tr '\n' ';' <"$API_LOG")"
	fi
	if [ -n "$ID" ]; then
		printf '%s$ %s%s\n' "$D" "bottle logs $ID --audit   (the bundle's audit lines, abridged)" "$N"
		"$BOTTLE" logs "$ID" --audit 2>/dev/null |
			sed -n 's/.*"method":"\([^"]*\)","host":"\([^"]*\)".*"verdict":"\([^"]*\)".*"status":\([0-9]*\).*/    \3 \4  \1 \2/p' |
			head -n 12
		n=$("$BOTTLE" logs "$ID" --audit 2>/dev/null | grep -c '"verdict":"block"')
		if [ "$n" -ge 2 ]; then
			ok "the bundle audited $n blocked leaks"
		else
			fail "the audit shows $n blocked leaks (want 2)"
		fi
	fi
fi
if [ -e /usr/bin/demo-agent-was-here ]; then
	fail "/usr/bin/demo-agent-was-here exists on the host"
fi

# --- 2. the probe suite -----------------------------------------------------
section "2. the full probe suite, on a detached bottle"
printf '%s$ %s%s\n' "$D" "$BOTTLE run -d --yes idle" "$N"
IDLE=$("$BOTTLE" run -d --yes idle </dev/null 2>"$ROOT/run-d.err")
rc=$?
IDLE=$(printf '%s\n' "$IDLE" | tail -n 1)
if [ $rc -ne 0 ] || [ -z "$IDLE" ]; then
	fail "bottle run -d exited with $rc"
	tail -n 5 "$ROOT/run-d.err" | sed 's/^/    /'
else
	IDS+=("$IDLE")
	echo "$IDLE"
	run "$BOTTLE" probe "$IDLE" || fail "bottle probe found a way out (see FAIL lines)"
	run "$BOTTLE" stop "$IDLE" || fail "bottle stop $IDLE failed"
fi

# --- 3. bookkeeping ---------------------------------------------------------
section "3. list and remove"
run "$BOTTLE" ls || fail "bottle ls failed"
if [ ${#IDS[@]} -gt 0 ]; then
	run "$BOTTLE" rm "${IDS[@]}" || fail "bottle rm failed"
fi
left=$("$BOTTLE" ls --json 2>/dev/null)
if [ "$left" = "[]" ]; then
	IDS=()
	ok "no bottles left; the temp dir goes next"
else
	fail "bottles left after rm: $left"
fi

END=$(date +%s.%N)
secs=$(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }')
echo
if [ "$failures" = 0 ]; then
	printf '%s%sdemo passed%s in %ss: the agent could work on its copy of the project and nothing else.\n' \
		"$G" "$B" "$N" "$secs"
	exit 0
fi
printf '%s%sdemo FAILED%s (%d problem(s), %ss): see the !! lines above.\n' \
	"$R" "$B" "$N" "$failures" "$secs"
exit 1
