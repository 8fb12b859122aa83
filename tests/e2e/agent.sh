# Helpers for the e2e tests that run a real agent CLI (Claude Code, Codex)
# against a fake model API (tests/fake_anthropic.py, tests/fake_openai.py)
# in the world.  Source after lib.sh and world.sh, with SRCDIR set:
#
#   agent_setup claude                    # root and the CLI, or skip
#   agent_world api.anthropic.com         # world_up + its certificates
#   fake_api_start fake_anthropic api.anthropic.com turns --expect-token "$KEY" ||
#           { fail "fake API listens"; finish; }
#   claude_manifest "Do it." '{DISABLE_AUTOUPDATER: "1"}' >"$proj/bottle.yaml" </dev/null

# agent_install NAME: install the pinned agent CLI with scripts/NAME.sh
# (claude, codex), or skip the test if it cannot be.  Sets agent_exe (the
# executable), agent_prefix (the install, to mount into a bottle) and
# agent_rel (the executable's path under agent_prefix).
agent_install() {
	agent_exe=$("$SRCDIR/scripts/$1.sh" 2>"$T_ROOT/install.err") ||
		skip_all "$1 not installable: $(tail -1 "$T_ROOT/install.err")"
	agent_prefix=${agent_exe%%/node_modules/*}
	agent_rel=${agent_exe#"$agent_prefix"/}
}

# agent_setup NAME: what a test of agent NAME in a bottle needs first:
# SRCDIR (the source tree, if not set), root (for the world; else the test
# is skipped) and agent_install NAME.
agent_setup() {
	SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
	[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"
	agent_install "$1"
}

# agent_world HOST...: the world, with a certificate for the HOSTs (the
# first names the files); the test fails and ends if either cannot be made.
agent_world() {
	world_up || { fail "world_up"; finish; }
	world_cert "$@" || { fail "cert"; finish; }
}

# The fake API's files: NAME.json (its script, written by the test),
# NAME.jsonl (the requests it received), NAME.err (its stderr).
FAKE_API_DIR=${WORLD_DIR:-$T_ROOT}/api
fake_api_pid=""

# fake_api_start FAKE HOST NAME [ARG...]: a fresh fake model API
# (tests/FAKE.py) in the world on :443 with HOST's certificate, the script
# $FAKE_API_DIR/NAME.json and the ARGs (e.g. --expect-token KEY); a running
# one is stopped first.  Started with `ip netns exec` itself, not through a
# function, so that $fake_api_pid is the server's pid.  Returns 1, with the
# server's stderr printed, if it does not listen within 10 s.
fake_api_start() {
	fake_api_stop
	_fa_fake=$1 _fa_host=$2 _fa_name=$3
	shift 3
	mkdir -p "$FAKE_API_DIR"
	rm -f "$FAKE_API_DIR/ready"
	ip netns exec "$WORLD_NS" python3 "$SRCDIR/tests/$_fa_fake.py" --port 443 \
		--cert "$WORLD_DIR/certs/$_fa_host.crt" \
		--key "$WORLD_DIR/certs/$_fa_host.key" --host 0.0.0.0 \
		--script "$FAKE_API_DIR/$_fa_name.json" \
		--log "$FAKE_API_DIR/$_fa_name.jsonl" \
		--ready "$FAKE_API_DIR/ready" "$@" 2>"$FAKE_API_DIR/$_fa_name.err" &
	fake_api_pid=$!
	for _ in $(seq 100); do
		[ -e "$FAKE_API_DIR/ready" ] && return 0
		kill -0 "$fake_api_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$FAKE_API_DIR/$_fa_name.err"
	return 1
}

# fake_api_stop: stop the fake API fake_api_start started, if any.
fake_api_stop() {
	[ -n "$fake_api_pid" ] && kill "$fake_api_pid" 2>/dev/null &&
		wait "$fake_api_pid" 2>/dev/null
	fake_api_pid=""
}

# claude_manifest PROMPT ENV [RESOLVE]: print a bottle.yaml whose agent
# claude runs `claude -p PROMPT` (JSON output, no permission prompts) in
# bottle b, which mounts the claude install (agent_install claude) at
# /opt/claude, has the env ENV (a YAML flow mapping) and reaches
# api.anthropic.com in the world through the bundle, which puts the real key
# ($BOTTLE_E2E_ANTHROPIC_KEY) where the bottle has a placeholder.  RESOLVE
# adds entries to egress.resolve ("extra.test: $WORLD_IP").  PROMPT goes
# into a YAML double-quoted string: no quotes or backslashes.  Standard
# input is appended: lines indented by 6 add to bottle b's egress, then
# lines indented by 4 to bottle b.
claude_manifest() {
	cat <<Y
agents:
  claude:
    command: [/opt/claude/$agent_rel, -p, "$1",
              --output-format, json, --dangerously-skip-permissions]
    bottle: b
bottles:
  b:
    env: $2
    mounts: [{source: $agent_prefix, target: /opt/claude, mode: ro}]
    egress:
      routes:
        - {host: api.anthropic.com, header: x-api-key,
           value: "\${env:BOTTLE_E2E_ANTHROPIC_KEY}", placeholder_env: ANTHROPIC_API_KEY}
      resolve: {api.anthropic.com: $WORLD_IP${3:+, $3}}
      ca: $WORLD_CA
Y
	cat
}

# approver_start: the human, in the background: approves the first pending
# request_approval with `bottle supervise answer --approve --text "approved
# by the e2e supervisor"` (its output in $T_ROOT/answer.out), then writes the
# request's id to $T_ROOT/answered; gives up after 2 minutes.  approver_stop
# ends it.
approver_pid=""
approver_start() {
	rm -f "$T_ROOT/answered"
	(
		for _ in $(seq 1200); do
			req=$("$BOTTLE" supervise --json 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("tool") == "request_approval":
        print(r["id"]); break' 2>/dev/null)
			if [ -n "$req" ]; then
				"$BOTTLE" supervise answer "$req" --approve \
					--text "approved by the e2e supervisor" \
					>"$T_ROOT/answer.out" 2>&1 && echo "$req" >"$T_ROOT/answered"
				exit 0
			fi
			sleep 0.1
		done
	) &
	approver_pid=$!
}
approver_stop() {
	[ -n "$approver_pid" ] && kill "$approver_pid" 2>/dev/null
	[ -n "$approver_pid" ] && wait "$approver_pid" 2>/dev/null
	approver_pid=""
}
