#!/bin/sh
# Provisioning parity (the agent's side of a launch): the prompt as a file
# Claude Code is pointed at, skills copied into ~/.claude/skills, the
# supervise MCP server registered in ~/.claude.json (keeping what is there),
# the agent env in every exec, home and /tmp ownership and modes, and the
# built-in manifest's token route.  A fake `claude` on the command line
# prints what it was given.
. "$(dirname "$0")/lib.sh"

proj=$(make_project proj)
cd "$proj" || exit 1
mkdir -p skills/review
echo "# review: read the diff" > skills/review/SKILL.md
cat > claude <<'EOF'
#!/bin/sh
# Stands in for Claude Code: shows its argv and what it was provisioned.
for a in "$@"; do echo "arg: $a"; done
[ -n "${BOTTLE_PROMPT_FILE:-}" ] && echo "prompt: $(cat "$BOTTLE_PROMPT_FILE")"
cat ~/.claude/skills/review/SKILL.md
cat ~/.claude.json
EOF
chmod 755 claude
cat > bottle.yaml <<'EOF'
agents:
  coder:
    command: [./claude, --print]
    prompt: "Push to bottle/* branches only."
    skills: [./skills/review]
    bottle: dev
  plain:
    command: [./claude]
    prompt: "  \n"
    bottle: dev
bottles:
  dev:
    supervise: true
EOF

out=$("$BOTTLE" run --yes coder </dev/null 2>"$T_ROOT/err")
rc=$?
check "run with prompt and skills succeeds" [ $rc -eq 0 ]
[ $rc -eq 0 ] || cat "$T_ROOT/err"
check "claude gets --append-system-prompt-file" sh -c "echo '$out' | grep -q '^arg: --append-system-prompt-file$'"
check "pointing at the prompt file" sh -c "echo '$out' | grep -q '^arg: /run/bottle/prompt.md$'"
check "the manifest's own arguments come first" sh -c "echo '$out' | head -1 | grep -q '^arg: --print$'"
check "the prompt file holds the prompt" sh -c "echo '$out' | grep -q '^prompt: Push to bottle/\* branches only.$'"
check "the skill is copied into ~/.claude/skills" sh -c "echo '$out' | grep -q '^# review: read the diff$'"
check "the supervise MCP server is registered" sh -c "echo '$out' | grep -q '\"url\": \"http://127.0.0.1:7777/mcp\"'"
check "as an http server" sh -c "echo '$out' | grep -q '\"type\": \"http\"'"
! grep -q -- --dangerously-skip-permissions "$T_ROOT/err" && ! echo "$out" | grep -q -- --dangerously
check "no --dangerously-skip-permissions unless the manifest says so" [ $? -eq 0 ]

out=$("$BOTTLE" run --yes plain </dev/null 2>/dev/null)
check "a blank prompt adds no argument" sh -c "! echo '$out' | grep -q append-system-prompt"

# The agent's ~/.claude.json keeps its other keys and servers across runs.
for id in $(bottle_ids); do "$BOTTLE" rm "$id" >/dev/null 2>&1; done
"$BOTTLE" run --yes coder </dev/null >/dev/null 2>&1
id=$(bottle_ids | head -1)
home="$XDG_STATE_HOME/bottle/$id/home"
cat > "$home/.claude.json" <<'EOF'
{"theme": "dark", "mcpServers": {"other": {"type": "stdio", "command": "x"}, "supervise": {"type": "http", "url": "http://evil"}}}
EOF
"$BOTTLE" resume --yes "$id" </dev/null >"$T_ROOT/out" 2>&1
check "resume succeeds" [ $? -eq 0 ]
check "resume keeps the agent's other settings" grep -q '"theme": "dark"' "$home/.claude.json"
check "and its other MCP servers" grep -q '"command": "x"' "$home/.claude.json"
check "and points supervise at the bundle again" sh -c "grep -q '7777/mcp' '$home/.claude.json' && ! grep -q evil '$home/.claude.json'"

# A symlink the agent left in its home is not followed on the host.
mkdir -p "$T_ROOT/outside"
rm -rf "$home/.claude"
ln -s "$T_ROOT/outside" "$home/.claude"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>"$T_ROOT/err"
rc=$?
check "a symlinked ~/.claude stops the launch (exit 1)" [ $rc -eq 1 ]
check "naming it" grep -q '\.claude is not a directory' "$T_ROOT/err"
check "and nothing was written through it" [ -z "$(ls -A "$T_ROOT/outside")" ]
rm -f "$home/.claude"
ln -s "$T_ROOT/outside/victim" "$home/.claude.json"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>"$T_ROOT/err"
check "a symlinked ~/.claude.json is not written through" [ ! -e "$T_ROOT/outside/victim" ]
rm -f "$home/.claude.json"

# Every exec gets the agent's env; home and /tmp are as a user expects.
"$BOTTLE" run --yes -d coder -- sleep 600 </dev/null >/dev/null 2>&1
id=$(ls -t "$XDG_STATE_HOME/bottle" | head -1)
out=$("$BOTTLE" exec "$id" -- sh -c 'echo "nn=$CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC proxy=$HTTPS_PROXY ca=$NODE_EXTRA_CA_CERTS noproxy=$NO_PROXY"; stat -c "%U %a" ~ /tmp; touch /tmp/x ~/y && echo writable' </dev/null 2>&1)
check "exec gets CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" sh -c "echo '$out' | grep -q 'nn=1 '"
check "exec gets the proxy and CA env" sh -c "echo '$out' | grep -q 'proxy=http://127.0.0.1:8888 ca=/etc/ssl/certs/ca-certificates.crt'"
check "NO_PROXY covers the gate and supervise (127.0.0.1)" sh -c "echo '$out' | grep -q 'noproxy=localhost,127.0.0.1,::1'"
check "home belongs to the agent" sh -c "echo '$out' | grep -q '^agent 700$'"
check "/tmp is world-writable and sticky" sh -c "echo '$out' | grep -q ' 1777$'"
check "both are writable" sh -c "echo '$out' | grep -q '^writable$'"
"$BOTTLE" stop "$id" >/dev/null 2>&1

# The built-in manifest (no bottle.yaml anywhere).
mkdir -p "$T_ROOT/bare" && cd "$T_ROOT/bare" || exit 1
env -u CLAUDE_CODE_OAUTH_TOKEN -u ANTHROPIC_API_KEY "$BOTTLE" run --yes </dev/null >/dev/null 2>"$T_ROOT/err"
rc=$?
check "no manifest and no token: exit 2" [ $rc -eq 2 ]
check "saying which variables to set" grep -q 'neither CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_API_KEY' "$T_ROOT/err"
check "creating nothing" [ -z "$(ls "$XDG_STATE_HOME/bottle" | grep '^claude-')" ]
env -u CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_API_KEY=sk-ant-api03-hostsecret "$BOTTLE" plan >"$T_ROOT/out" 2>&1
check "with ANTHROPIC_API_KEY: the API route injects it as x-api-key" grep -qF 'route     api.anthropic.com: x-api-key from ${env:ANTHROPIC_API_KEY}' "$T_ROOT/out"
check "the default allowlist is Anthropic's API and npm" grep -qF 'allow     api.anthropic.com registry.npmjs.org' "$T_ROOT/out"
CLAUDE_CODE_OAUTH_TOKEN=oauth-hostsecret ANTHROPIC_API_KEY=k "$BOTTLE" plan >"$T_ROOT/out" 2>&1
check "with CLAUDE_CODE_OAUTH_TOKEN: a bearer token (preferred)" grep -qF 'Authorization from Bearer ${env:CLAUDE_CODE_OAUTH_TOKEN}' "$T_ROOT/out"
out=$(CLAUDE_CODE_OAUTH_TOKEN=oauth-hostsecret "$BOTTLE" run --yes -- sh -c 'echo "tok=$CLAUDE_CODE_OAUTH_TOKEN"' </dev/null 2>/dev/null)
check "the agent holds only the placeholder" sh -c "echo '$out' | grep -q '^tok=bottle-placeholder-CLAUDE_CODE_OAUTH_TOKEN$'"

# Codex (an agent whose command is `codex`) gets supervise in
# ~/.codex/config.toml too: a block of bottle's own, the rest left alone.
mkdir -p "$T_ROOT/cx" && cd "$T_ROOT/cx" || exit 1
cat > codex <<'EOF'
#!/bin/sh
cat ~/.codex/config.toml
EOF
chmod 755 codex
cat > bottle.yaml <<'EOF'
agents:
  cx:
    command: [./codex]
    bottle: sv
bottles:
  sv:
    supervise: {timeout: 45}
EOF
before=$(bottle_ids)
"$BOTTLE" run --yes cx </dev/null >"$T_ROOT/out" 2>"$T_ROOT/err"
check "codex: run succeeds" [ $? -eq 0 ]
id=$(bottle_ids | grep -vxF "$before" | head -1)
home="$XDG_STATE_HOME/bottle/$id/home"
check "codex: supervise is registered in ~/.codex/config.toml" grep -qx 'url = "http://127.0.0.1:7777/mcp"' "$T_ROOT/out"
check "codex: its calls need no approval from Codex" grep -qx 'default_tools_approval_mode = "approve"' "$T_ROOT/out"
check "codex: and may wait 30 s longer than the bundle" grep -qx 'tool_timeout_sec = 75' "$T_ROOT/out"
check "codex: in bottle's own block" sh -c "head -1 '$T_ROOT/out' | grep -q '^# BEGIN bottle' && tail -1 '$T_ROOT/out' | grep -qx '# END bottle'"
check "codex: ~/.codex is private" [ "$(stat -c %a "$home/.codex")" = 700 ]
printf 'model = "o3"\n[mcp_servers.other]\nurl = "http://other"' >"$home/.codex/config.toml"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>&1
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>&1
check "codex: the agent's settings and servers stay" sh -c "head -3 '$home/.codex/config.toml' | tr '\n' ' ' | grep -qx 'model = \"o3\" \[mcp_servers.other\] url = \"http://other\" '"
check "codex: one block however many launches" [ "$(grep -c '^\[mcp_servers.supervise\]$' "$home/.codex/config.toml")" = 1 ]
sed -i 's/supervise: {timeout: 45}/supervise: false/' bottle.yaml
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>&1
check "codex: supervise off removes the block, and only it" [ "$(cat "$home/.codex/config.toml")" = "$(printf 'model = "o3"\n[mcp_servers.other]\nurl = "http://other"\n')" ]
sed -i 's/supervise: false/supervise: true/' bottle.yaml
printf '[mcp_servers]\nsupervise = {url = "http://mine"}\n' >"$home/.codex/config.toml"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>"$T_ROOT/err"
check "codex: the agent's own supervise server is kept" [ "$(cat "$home/.codex/config.toml")" = "$(printf '[mcp_servers]\nsupervise = {url = "http://mine"}\n')" ]
check "codex: with a warning" grep -q 'not registering the supervise MCP server: ~/.codex/config.toml has its own \[mcp_servers.supervise\]' "$T_ROOT/err"
rm "$home/.codex/config.toml"
ln -s "$T_ROOT/outside/codex-victim" "$home/.codex/config.toml"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>"$T_ROOT/err"
check "codex: a symlinked config.toml is not written through" [ ! -e "$T_ROOT/outside/codex-victim" ]
rm -rf "$home/.codex"
ln -s "$T_ROOT/outside" "$home/.codex"
"$BOTTLE" resume --yes "$id" </dev/null >/dev/null 2>"$T_ROOT/err"
check "codex: a symlinked ~/.codex stops the launch" grep -q '\.codex is not a directory' "$T_ROOT/err"
check "codex: nothing was written through either" [ -z "$(ls -A "$T_ROOT/outside")" ]
for d in "$XDG_STATE_HOME"/bottle/*/home; do
	[ "$d" = "$home" ] || [ ! -e "$d/.codex" ] || fail "codex: $d/.codex made for an agent that is not codex"
done

cleanup_root
finish
