#!/bin/sh
# The real Claude Code CLI inside a bottle, through the bundle, against the
# fake Anthropic API (tests/fake_anthropic.py) served at api.anthropic.com in
# the world namespace.  The bundle intercepts api.anthropic.com and injects
# the real key; the bottle holds only the placeholder.  The fake API refuses
# any other key, and the script makes the agent run one Bash tool call.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"
claude=$("$SRCDIR/scripts/claude.sh" 2>"$T_ROOT/install.err") ||
	skip_all "claude not installable: $(tail -1 "$T_ROOT/install.err")"
prefix=${claude%%/node_modules/*}
rel=${claude#"$prefix"/}

world_up || { fail "world_up"; finish; }
world_cert api.anthropic.com || { fail "cert"; finish; }

REAL="sk-ant-api03-real-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BOTTLE_E2E_ANTHROPIC_KEY="$REAL"
W=$WORLD_DIR/api
mkdir -p "$W"
cat >"$W/script.json" <<'J'
[
  {"text": "Writing it.", "tool_use": {"name": "Bash",
    "input": {"command": "echo hello-from-the-bottle > /workspace/out.txt && env | grep -c ^ANTHROPIC_API_KEY=bottle-placeholder-",
              "description": "write a file"}}},
  {"text": "Done: the file is written."}
]
J
world_exec python3 "$SRCDIR/tests/fake_anthropic.py" --port 443 \
	--cert "$WORLD_DIR/certs/api.anthropic.com.crt" \
	--key "$WORLD_DIR/certs/api.anthropic.com.key" --host 0.0.0.0 \
	--script "$W/script.json" --log "$W/requests.jsonl" \
	--expect-token "$REAL" --ready "$W/ready" 2>"$W/server.err" &
for _ in $(seq 100); do [ -e "$W/ready" ] && break; sleep 0.1; done
[ -e "$W/ready" ] || { cat "$W/server.err"; fail "fake API listens"; finish; }

proj=$(make_project proj)
cat >"$proj/bottle.yaml" <<Y
agents:
  claude:
    command: [/opt/claude/$rel, -p, "Write hello to /workspace/out.txt.",
              --output-format, json, --dangerously-skip-permissions]
    bottle: b
bottles:
  b:
    env: {CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_MAX_RETRIES: "1"}
    mounts: [{source: $prefix, target: /opt/claude, mode: ro}]
    egress:
      routes:
        - {host: api.anthropic.com, header: x-api-key,
           value: "\${env:BOTTLE_E2E_ANTHROPIC_KEY}", placeholder_env: ANTHROPIC_API_KEY}
      resolve: {api.anthropic.com: $WORLD_IP}
      ca: $WORLD_CA
Y
cd "$proj" || exit 1
t0=$(date +%s%N)
"$BOTTLE" run --yes </dev/null >"$T_ROOT/out.json" 2>"$T_ROOT/run.err"
rc=$?
echo "# claude -p in a bottle: exit $rc in $((($(date +%s%N) - t0) / 1000000)) ms"
check "claude -p in a bottle exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { tail -3 "$T_ROOT/out.json"; tail -5 "$W/server.err"; tail -5 "$XDG_STATE_HOME"/bottle/*/logs/audit.jsonl; tail -5 "$XDG_STATE_HOME"/bottle/*/logs/bundle.log; }
id=$(bottle_ids | head -1)
S="$XDG_STATE_HOME/bottle/$id"

python3 - "$T_ROOT/out.json" "$W/requests.jsonl" "$REAL" <<'P' && ok "the agent ran the scripted turns through the bundle" || fail "scripted turns"
import json, sys
out = json.load(open(sys.argv[1]))
reqs = [json.loads(l) for l in open(sys.argv[2])]
turns = [r for r in reqs if r["kind"] == "turn"]
assert out.get("result") == "Done: the file is written.", out
assert len(turns) == 2, [r["path"] for r in reqs]
# The tool's output (1 placeholder env var found) came back to the model.
tr = [b for m in turns[1]["body"]["messages"] if isinstance(m.get("content"), list)
      for b in m["content"] if b.get("type") == "tool_result"]
assert tr and "1" in json.dumps(tr), tr
P
grep -qx hello-from-the-bottle "$S/workspace/out.txt" &&
	ok "the Bash tool wrote into the bottle's workspace" || fail "tool output file"
python3 - "$W/requests.jsonl" "$REAL" <<'P' && ok "every request the fake API received carried the real key" || fail "real key upstream"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert reqs and all(r["headers"].get("x-api-key") == sys.argv[2] for r in reqs), \
    [(r["path"], r["headers"].get("x-api-key")) for r in reqs]
P
grep -q "$REAL" "$S/home" -r 2>/dev/null && fail "the real key is in the agent's home" ||
	ok "the real key is nowhere in the agent's home"
grep -q "$REAL" "$S/logs/audit.jsonl" && fail "the real key is in the audit log" ||
	ok "the real key is not in the audit log"
grep '"host":"api.anthropic.com"' "$S/logs/audit.jsonl" | grep -q '"mode":"intercept"' &&
	ok "the audit shows the intercepted API calls" || fail "audit of API calls"
finish
