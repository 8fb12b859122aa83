#!/bin/sh
# The real Claude Code CLI against tests/fake_anthropic.py, offline and
# without a bottle: a private network namespace holds only lo, the fake API
# listens there on 127.0.0.1:443 with a cert for api.anthropic.com signed by
# a test CA, and claude runs in the same namespace with a private /etc/hosts
# (bind-mounted in its own mount namespace; the real one is never touched).
# The script makes the model run one Bash tool call, then answer with text.
# CLAUDE_FAKE_API_KEEP=1 keeps the work dir (log, output) for inspection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent.sh"

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "$(id -u)" -eq 0 ] || skip_all "needs root (ip netns, mount)"
command -v ip >/dev/null 2>&1 || skip_all "no ip (iproute2)"
command -v openssl >/dev/null 2>&1 || skip_all "no openssl"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"
agent_install claude
claude=$agent_exe

W=$T_ROOT/w
mkdir -p "$W/tmp"
NS=bottle-e2e-claude-$$
TOKEN=sk-ant-api03-fake-e2e-token-$$
server_pid=""
teardown() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	server_pid=""
	ip netns del "$NS" 2>/dev/null
	if [ "${CLAUDE_FAKE_API_KEEP:-}" = 1 ]; then
		cp -r "$W" "/tmp/claude-fake-api.$$" && echo "kept /tmp/claude-fake-api.$$"
	fi
}
done_() { teardown; finish; }

# A test CA and a leaf for api.anthropic.com signed by it.
(
	cd "$W" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj "/CN=bottle e2e test CA" &&
	openssl req -newkey rsa:2048 -nodes -keyout api.key -out api.csr \
		-subj "/CN=api.anthropic.com" &&
	printf 'subjectAltName=DNS:api.anthropic.com\nextendedKeyUsage=serverAuth\n' > ext &&
	openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile ext -out api.pem
) >"$W/openssl.log" 2>&1 || { cat "$W/openssl.log"; fail "test CA"; done_; }

printf '127.0.0.1 localhost api.anthropic.com\n::1 localhost\n' > "$W/hosts"
cat > "$W/script.json" <<J
[
  {"text": "Running it.", "tool_use": {"name": "Bash",
    "input": {"command": "echo hello-from-tool > $W/tool-out && cat $W/tool-out",
              "description": "write a file"}}},
  {"text": "All done: the file says hello-from-tool."}
]
J

ip netns add "$NS" || { fail "ip netns add"; done_; }
ip -n "$NS" link set lo up

# start_server: a fresh fake API (script from its first turn, empty log
# $W/requests.jsonl) in the namespace.
start_server() {
	[ -n "$server_pid" ] && kill "$server_pid" && wait "$server_pid" 2>/dev/null
	rm -f "$W/ready" "$W/requests.jsonl"
	ip netns exec "$NS" python3 "$SRCDIR/tests/fake_anthropic.py" \
		--cert "$W/api.pem" --key "$W/api.key" --script "$W/script.json" \
		--log "$W/requests.jsonl" --expect-token "$TOKEN" --ready "$W/ready" \
		2>>"$W/server.err" &
	server_pid=$!
	i=0
	while [ ! -e "$W/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	touch "$W/requests.jsonl"
	[ -e "$W/ready" ] || { cat "$W/server.err"; fail "fake API listens"; done_; }
}

# run_claude NAME ENV...: claude -p (with ENV) against a fresh fake API, in
# the namespace with a private /etc/hosts and a fresh HOME.  Its JSON output
# goes to $W/out.json, the requests to $W/requests.jsonl; copies of both and
# of claude's stderr are kept as $W/NAME.*.
run_claude() {
	name=$1; shift
	start_server
	t0=$(date +%s%N)
	rm -rf "$W/home" "$W/tool-out"
	mkdir "$W/home"
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$W/home" TMPDIR="$W/tmp" TERM=dumb \
		NODE_EXTRA_CA_CERTS="$W/ca.pem" CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		DISABLE_AUTOUPDATER=1 "$@" \
		ip netns exec "$NS" unshare -m sh -c '
			mount --bind "$1" /etc/hosts &&
			cd "$2" && shift 2 && exec timeout 120 "$@" </dev/null' sh \
		"$W/hosts" "$W/home" "$claude" -p "Write hello to a file." \
		--output-format json --allowedTools Bash \
		>"$W/out.json" 2>"$W/claude.err"
	rc=$?
	t1=$(date +%s%N)
	echo "# claude -p ($name): exit $rc in $(((t1 - t0) / 1000000)) ms"
	cp "$W/requests.jsonl" "$W/$name.jsonl"
	cp "$W/out.json" "$W/$name.out.json"
	cp "$W/claude.err" "$W/$name.err"
	return $rc
}

run_claude apikey ANTHROPIC_API_KEY="$TOKEN"
rc=$?
check "claude -p exits 0" [ "$rc" -eq 0 ]
check "the Bash tool ran" grep -qx hello-from-tool "$W/tool-out"

# The assertions read the output and the request log with python.
py_check() { # py_check DESC PYTHON-EXPR (over out, reqs, turns)
	python3 - "$W/out.json" "$W/requests.jsonl" "$2" <<'P' && ok "$1" || fail "$1"
import json, sys
try:
    out = json.load(open(sys.argv[1]))
except ValueError:
    out = {}
reqs = [json.loads(l) for l in open(sys.argv[2])]
turns = [r for r in reqs if r["kind"] == "turn"]
def texts(r):  # every text and tool_result text of a request's messages
    for m in r["body"].get("messages", []):
        c = m.get("content")
        for b in (c if isinstance(c, list) else [{"type": "text", "text": c}]):
            if b.get("type") == "tool_result":
                cc = b.get("content")
                for x in (cc if isinstance(cc, list) else [{"text": cc}]):
                    yield "tool_result", str(x.get("text"))
            else:
                yield b.get("type"), str(b.get("text"))
sys.exit(0 if eval("(" + sys.argv[3] + ")") else 1)
P
}

py_check "final output is the scripted text" \
	'out.get("result") == "All done: the file says hello-from-tool." and not out.get("is_error")'
py_check "two scripted turns were consumed" 'len(turns) == 2'
py_check "the second turn carries the tool's output as a tool_result" \
	'any(k == "tool_result" and "hello-from-tool" in t for k, t in texts(turns[1]))'
py_check "every request carried the real token as x-api-key" \
	'reqs and all(r["headers"].get("x-api-key") == "'"$TOKEN"'" for r in reqs)'
# Start-up calls the fake answers 404 (the CLI takes that as "none").
STARTUP='("/api/claude_code/settings", "/api/claude_code/policy_limits")'
py_check "no request was refused; none went to an unexpected path" \
	'all(r["kind"] != "unauthorized" for r in reqs) and
	 all(r["path"] in '"$STARTUP"' for r in reqs if r["kind"] == "unknown")'

# The wrong token: the fake API answers 401 and claude reports the error.
run_claude wrong ANTHROPIC_API_KEY=sk-ant-wrong CLAUDE_CODE_MAX_RETRIES=0
check "a wrong token makes claude -p fail" [ $? -ne 0 ]
py_check "the wrong token got a 401, and claude reports it" \
	'reqs and reqs[0]["status"] == 401 and out.get("api_error_status") == 401'

run_claude oauth CLAUDE_CODE_OAUTH_TOKEN="$TOKEN"
check "claude -p with an OAuth token exits 0" [ $? -eq 0 ]
py_check "OAuth: the scripted run completed" \
	'out.get("result") == "All done: the file says hello-from-tool." and len(turns) == 2'
py_check "OAuth: every request carried the token as Authorization Bearer" \
	'reqs and all(r["headers"].get("authorization") == "Bearer '"$TOKEN"'" and
		"x-api-key" not in r["headers"] for r in reqs)'
py_check "OAuth: no request went to an unexpected path" \
	'all(r["path"] in '"$STARTUP"' for r in reqs if r["kind"] == "unknown")'

[ "$T_FAILS" -eq 0 ] || { echo "# claude stderr:"; cat "$W/claude.err"; echo "# out:"; cat "$W/out.json"; }
done_
