#!/bin/sh
# supervise with the real Claude Code CLI in a bottle: the fake Anthropic
# API (tests/fake_anthropic.py, in the world namespace) scripts the agent to
# call request_egress for a host the allowlist blocks, then fetch it with
# curl.  The test approves with `bottle supervise answer` while the agent
# waits; the fetch must then pass the proxy.  This is the client the server
# is for: its MCP handshake, its SSE handling, its tool naming.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"
. "$(dirname "$0")/agent.sh"

agent_setup claude
agent_world api.anthropic.com
# extra.test: a plain HTTP server on :80 in the world (443 is the API's).
head -c 1024 /dev/urandom >"$WORLD_DIR/www/1k"
world_exec python3 -m http.server 80 --bind 0.0.0.0 --directory "$WORLD_DIR/www" \
	>"$WORLD_DIR/http.log" 2>&1 &

KEY="sk-ant-api03-e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BOTTLE_E2E_ANTHROPIC_KEY="$KEY"
W=$FAKE_API_DIR
mkdir -p "$W"
cat >"$W/api.json" <<'J'
[
  {"text": "I need extra.test.", "tool_use": {"name": "mcp__supervise__request_egress",
    "input": {"host": "extra.test", "reason": "fetch the 1k file"}}},
  {"text": "Fetching.", "tool_use": {"name": "Bash",
    "input": {"command": "curl -s -o /dev/null -w 'status=%{http_code}' http://extra.test/1k",
              "description": "fetch"}}},
  {"text": "Done."}
]
J
fake_api_start fake_anthropic api.anthropic.com api --expect-token "$KEY" ||
	{ fail "fake API listens"; finish; }
_world_wait_port 80 || { cat "$WORLD_DIR/http.log"; fail "http server listens"; finish; }

proj=$(make_project proj)
claude_manifest "Fetch http://extra.test/1k." \
	'{CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_MAX_RETRIES: "1"}' \
	"extra.test: $WORLD_IP" >"$proj/bottle.yaml" <<Y
    supervise: {timeout: 300}
Y
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_ROOT/resolv.conf"
export BOTTLE_RESOLV_CONF="$T_ROOT/resolv.conf"
cd "$proj" || exit 1
"$BOTTLE" run --yes </dev/null >"$T_ROOT/out.json" 2>"$T_ROOT/run.err" &
run=$!

# The agent waits on the human: approve its request.
pending() { "$BOTTLE" supervise --json 2>/dev/null | python3 -c '
import json, sys
v = [r for r in json.load(sys.stdin) if r["tool"] == "request_egress"]
print(v[0]["id"] if v and v[0]["args"]["host"] == "extra.test" else "")'; }
i=0
until [ -n "$(pending)" ] || [ $i -gt 600 ] || ! kill -0 $run 2>/dev/null; do i=$((i + 1)); sleep 0.1; done
req=$(pending)
[ -n "$req" ] && ok "claude's request_egress is listed for the human" || fail "no request from claude"
[ -n "$req" ] && "$BOTTLE" supervise answer "$req" --approve --text "go ahead" >/dev/null
wait $run
rc=$?
check "claude -p in the bottle exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { tail -3 "$T_ROOT/out.json"; tail -5 "$T_ROOT/run.err"; tail -5 "$XDG_STATE_HOME"/bottle/*/logs/bundle.log; }

python3 - "$T_ROOT/out.json" "$W/api.jsonl" <<'P' && ok "the approval reached claude, and its fetch then passed the proxy" || fail "scripted turns"
import json, sys
out = json.load(open(sys.argv[1]))
reqs = [json.loads(l) for l in open(sys.argv[2])]
turns = [r for r in reqs if r["kind"] == "turn"]
assert out.get("result") == "Done.", out
assert len(turns) == 3, [r["path"] for r in reqs]
def results(turn):
    return json.dumps([b for m in turn["body"]["messages"] if isinstance(m.get("content"), list)
                       for b in m["content"] if b.get("type") == "tool_result"])
assert "APPROVED: extra.test is now allowed" in results(turns[1]), results(turns[1])
assert "go ahead" in results(turns[1])
assert "status=200" in results(turns[2]), results(turns[2])
P
id=$(bottle_ids | head -1)
grep '"method":"GRANT"' "$XDG_STATE_HOME/bottle/$id/logs/audit.jsonl" | grep -q extra.test &&
	ok "the grant is in the audit log" || fail "grant audit"
finish
