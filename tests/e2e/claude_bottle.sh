#!/bin/sh
# The real Claude Code CLI inside a bottle, through the bundle, against the
# fake Anthropic API (tests/fake_anthropic.py) served at api.anthropic.com in
# the world namespace.  The bundle intercepts api.anthropic.com and injects
# the real key; the bottle holds only the placeholder.  The fake API refuses
# any other key, and the script makes the agent run one Bash tool call.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"
. "$(dirname "$0")/agent.sh"

agent_setup claude
agent_world api.anthropic.com

REAL="sk-ant-api03-real-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BOTTLE_E2E_ANTHROPIC_KEY="$REAL"
W=$FAKE_API_DIR
mkdir -p "$W"
cat >"$W/api.json" <<'J'
[
  {"text": "Writing it.", "tool_use": {"name": "Bash",
    "input": {"command": "echo hello-from-the-bottle > /workspace/out.txt && env | grep -c ^ANTHROPIC_API_KEY=bottle-placeholder-",
              "description": "write a file"}}},
  {"text": "Done: the file is written."}
]
J
fake_api_start fake_anthropic api.anthropic.com api --expect-token "$REAL" ||
	{ fail "fake API listens"; finish; }

proj=$(make_project proj)
# E2E_BOTTLE_EXTRA: more of bottle b, indented by 4 (claude_vm.sh: the
# vm backend).
printf '%s' "${E2E_BOTTLE_EXTRA:-}" |
	claude_manifest "Write hello to /workspace/out.txt." \
	'{CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_MAX_RETRIES: "1"}' \
	>"$proj/bottle.yaml"
cd "$proj" || exit 1
t0=$(date +%s%N)
"$BOTTLE" run --yes </dev/null >"$T_ROOT/out.json" 2>"$T_ROOT/run.err"
rc=$?
echo "# claude -p in a bottle: exit $rc in $((($(date +%s%N) - t0) / 1000000)) ms"
check "claude -p in a bottle exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { tail -3 "$T_ROOT/out.json"; tail -5 "$W/api.err"; tail -5 "$XDG_STATE_HOME"/bottle/*/logs/audit.jsonl; tail -5 "$XDG_STATE_HOME"/bottle/*/logs/bundle.log; }
id=$(bottle_ids | head -1)
S="$XDG_STATE_HOME/bottle/$id"

python3 - "$T_ROOT/out.json" "$W/api.jsonl" "$REAL" <<'P' && ok "the agent ran the scripted turns through the bundle" || fail "scripted turns"
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
python3 - "$W/api.jsonl" "$REAL" <<'P' && ok "every request the fake API received carried the real key" || fail "real key upstream"
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
