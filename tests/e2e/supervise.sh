#!/bin/sh
# supervise end to end: a real bottle whose agent side is curl (and python)
# inside it, talking MCP to 127.0.0.1:7777/mcp; the human side is
# `bottle supervise` on the host.  Blocking calls, answers, denials, a
# timeout, an egress grant that turns a proxied 403 into a 200 (origin in
# a world network namespace, world.sh), kill -9 of the bundle with a
# request pending, and bad input of every kind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"
command -v nginx >/dev/null || skip_all "nginx missing (scripts/deps.sh installs nginx-light)"
world_up || { fail "world_up"; finish; }
world_nginx || { fail "world_nginx"; finish; }

proj=$(make_project proj)
cp "$(dirname "$0")/supervise_many.py" "$(dirname "$0")/supervise_flood.py" "$proj/"
cat >"$proj/bottle.yaml" <<Y
agents:
  t: {command: [sleep, "600"], bottle: b}
  q: {command: [sleep, "600"], bottle: quick}
bottles:
  b:
    egress:
      allow: [origin.test]
      resolve: {origin.test: $WORLD_IP, extra.test: $WORLD_IP}
    supervise: {timeout: 300}
  quick:
    supervise: {timeout: 2}
Y
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_ROOT/resolv.conf"
# Keep-alives on SSE streams every 200 ms instead of 30 s, so that the
# test sees them.
export BOTTLE_RESOLV_CONF="$T_ROOT/resolv.conf" BOTTLE_SUPERVISE_KEEPALIVE_MS=200
cd "$proj" || exit 1
id=$("$BOTTLE" run -d --yes t 2>"$T_ROOT/run.err")
[ -n "$id" ] || { cat "$T_ROOT/run.err"; fail "launch"; finish; }
qid=$("$BOTTLE" run -d --yes q 2>"$T_ROOT/run.err")
[ -n "$qid" ] || { cat "$T_ROOT/run.err"; fail "launch quick"; finish; }
ok "two bottles with supervise"

S="$XDG_STATE_HOME/bottle"
URL=http://127.0.0.1:7777/mcp
CT='Content-Type: application/json'
SSE='Accept: application/json, text/event-stream'
# mcp [ID] BODY [CURL-ARGS...]: one POST from inside the bottle; the body.
mcp_in() { b=$1; body=$2; shift 2
	"$BOTTLE" exec "$b" -- curl -s --max-time 120 -H "$CT" "$@" -d "$body" $URL; }
mcp() { mcp_in "$id" "$@"; }
call() { # call TOOL ARGS-JSON [ID]: a tools/call body
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' \
		"${3:-1}" "$1" "$2"; }
pending() { "$BOTTLE" supervise --json "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
pending_is() { [ "$(pending ${2:+"$2"} 2>/dev/null)" = "$1" ]; } # pending_is N [ID]
newest() { "$BOTTLE" supervise --json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])'; }
# until CMD... : poll (a hang guard, not a timing threshold)
until_ok() { i=0; until "$@"; do i=$((i + 1)); [ $i -le 600 ] || return 1; sleep 0.1; done; }
has() { grep -q -- "$2" "$1" 2>/dev/null; }
bundle_pid() { pgrep -f "bottle-bundle --state $S/$1 " | head -1; }
serves() { mcp_in "$1" '{"jsonrpc":"2.0","id":1,"method":"ping"}' 2>/dev/null | grep -q '"result":{}'; }

# --- protocol ------------------------------------------------------------------
out=$(mcp '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}' -i)
echo "$out" | grep -q '"protocolVersion":"2025-03-26"' && echo "$out" | grep -qi '^Mcp-Session-Id: [0-9a-f]' &&
	ok "initialize: the client's version, and a session id" || fail "initialize: $out"
sid=$(echo "$out" | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
out=$(mcp '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}')
echo "$out" | grep -q '"protocolVersion":"2025-06-18"' && ok "initialize: our latest for an unknown version" || fail "negotiation: $out"
[ "$(mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $sid" -o /dev/null -w '%{http_code}')" = 202 ] &&
	ok "notifications/initialized: 202 with the session id" || fail "initialized"
out=$(mcp '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 2025-06-18")
for t in ask_supervisor request_approval request_egress report; do
	echo "$out" | grep -q "\"name\":\"$t\"" || fail "tools/list lacks $t"
done
echo "$out" | grep -q '"inputSchema"' && ok "tools/list: the four tools with schemas" || fail "tools/list: $out"
code() { "$BOTTLE" exec "$id" -- curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$@"; }
[ "$(code $URL)" = 405 ] && ok "GET /mcp: 405" || fail "GET /mcp"
[ "$(code -X DELETE $URL)" = 405 ] && ok "DELETE /mcp: 405" || fail "DELETE"
[ "$(code -H "$CT" -d '{}' http://127.0.0.1:7777/other)" = 404 ] && ok "wrong path: 404" || fail "404"
[ "$(code -H 'Content-Type: text/plain' -d '{}' $URL)" = 415 ] && ok "wrong content type: 415" || fail "415"
out=$(mcp '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2026-07-28"}}' -H 'MCP-Protocol-Version: 2026-07-28')
echo "$out" | grep -q '"protocolVersion":"2025-06-18"' && ok "a newer version, in the header too: negotiated down" || fail "newer version: $out"
[ "$(code -H "$CT" -H 'Origin: http://evil.test' -d '{}' $URL)" = 403 ] && ok "foreign Origin: 403" || fail "origin"
"$BOTTLE" exec "$id" -- sh -c 'head -c 2000000 /dev/zero | tr "\0" " " >/tmp/big.json'
[ "$(code -H "$CT" --data-binary @/tmp/big.json $URL)" = 413 ] && ok "a 2 MB body: 413" || fail "413"
[ "$(code -H "$CT" -H 'Transfer-Encoding: chunked' --data-binary @/tmp/big.json $URL)" = 413 ] &&
	ok "a 2 MB chunked body: 413" || fail "413 chunked"
jerr() { mcp "$1" | grep -q "\"code\":$2" && ok "$3" || fail "$3: $(mcp "$1")"; }
jerr '{"jsonrpc":"2.0","id":1,' -32700 "bad JSON: -32700"
jerr '{"jsonrpc":"2.0","id":1}' -32600 "no method: -32600"
jerr '{"jsonrpc":"2.0","id":{},"method":"ping"}' -32600 "an id of the wrong type: -32600"
jerr '[{"jsonrpc":"2.0","id":1,"method":"ping"}]' -32600 "a batch: -32600"
jerr '{"jsonrpc":"2.0","id":1,"method":"prompts/list"}' -32601 "unknown method: -32601"
jerr "$(call no_such '{}')" -32602 "unknown tool: -32602"
jerr "$(call ask_supervisor '{"question":7}')" -32602 "an argument of the wrong type: -32602"
jerr "$(call request_egress '{"host":"http://x/","reason":"r"}')" -32602 "an egress URL instead of a host: -32602"
big=$(head -c 17000 /dev/zero | tr '\0' a)
jerr "$(call ask_supervisor "{\"question\":\"$big\"}")" -32602 "a 17 KB argument: -32602"
# Keep-alive: two requests on one connection.
out=$("$BOTTLE" exec "$id" -- curl -s -H "$CT" -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' $URL --next -H "$CT" -d '{"jsonrpc":"2.0","id":2,"method":"ping"}' $URL)
[ "$out" = '{"jsonrpc":"2.0","id":1,"result":{}}{"jsonrpc":"2.0","id":2,"result":{}}' ] &&
	ok "two requests on one connection" || fail "keep-alive: $out"
[ "$(pending)" = 0 ] && ok "bad input queued nothing" || fail "pending after bad input: $(pending)"

# --- ask, answered with text, over SSE with keep-alives ------------------------------
mcp "$(call ask_supervisor '{"question":"Which colour?","context":"red or blue"}')" -N -H "$SSE" >"$T_ROOT/ask.out" &
cpid=$!
until_ok pending_is 1 || fail "the question is listed"
list=$("$BOTTLE" supervise "$id")
echo "$list" | grep "$id" | grep ask_supervisor | grep -q "Which colour?" &&
	ok "bottle supervise lists it: bottle, tool, question" || fail "listing: $list"
until_ok has "$T_ROOT/ask.out" ': keep-alive' && ok "SSE keep-alive while waiting" || fail "no keep-alive: $(cat "$T_ROOT/ask.out")"
req=$(newest)
"$BOTTLE" supervise answer "$(echo "$req" | cut -c1-5)" --text "blue, please" >/dev/null &&
	ok "answer by an id prefix" || fail "answer by prefix"
wait $cpid
grep -q '^event: message' "$T_ROOT/ask.out" && grep -q 'The supervisor answered: blue, please' "$T_ROOT/ask.out" &&
	grep -q '"isError":false' "$T_ROOT/ask.out" && ok "the answer arrives in the SSE stream" || fail "ask: $(cat "$T_ROOT/ask.out")"
out=$("$BOTTLE" supervise answer "$req" --text again 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "already answered" && ok "a second answer: exit 1, already answered" || fail "second answer ($rc): $out"
out=$("$BOTTLE" supervise answer zzzzzzzz --deny 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'no request' && ok "an unknown request: exit 1" || fail "unknown ($rc): $out"

# --- the same, answered on a terminal -------------------------------------------------
mcp "$(call ask_supervisor '{"question":"Tea \u001b[31mor\u001b[0m coffee?"}')" >"$T_ROOT/tty.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
TTY="$(dirname "$0")/pty_run.py"
out=$(NO_COLOR=1 python3 "$TTY" -i tea "$BOTTLE" supervise | tr -d "\r")
echo "$out" | grep -qF 'question: Tea \x1b[31mor\x1b[0m coffee?' && ok "a terminal shows the question, escapes defused" || fail "tty: $out"
echo "$out" | grep -q 'answered [a-z2-9]\{8\} (ask_supervisor' && ok "and takes the answer typed" || fail "tty answer: $out"
wait $cpid
grep -q 'The supervisor answered: tea' "$T_ROOT/tty.out" && ok "which reaches the agent" || fail "tty result: $(cat "$T_ROOT/tty.out")"

# --- a request that tries to pass for another one on the human's terminal ----------------
# Its reason holds a fake request header and host, then a screenful of
# blank lines and another fake, a bidi override, a CR and an OSC.
body=$(python3 -c 'import json; print(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
  "params": {"name": "request_egress", "arguments": {"host": "real.test", "reason":
  "see below\n[1/1] request_egress zzzzzzzz  b, 1s ago\n  host: docs.python.org \u202eevil\rX\x1b]0;t\x07"
  + "\n" * 100 + "[1/1] request_egress yyyyyyyy  b, 1s ago\n  host: docs.python.org"}}}))')
mcp "$body" >"$T_ROOT/fake.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
out=$(python3 "$TTY" "$BOTTLE" supervise --list | tr -d '\r')
echo "$out" | grep -q '^t-.* request_egress .* real.test: see below .*\.\.\.$' &&
	[ "$(echo "$out" | awk 'length($0) >= 80' | wc -l)" = 0 ] &&
	ok "on a terminal, the listing's rows are cut before they wrap" || fail "listing: $out"
NO_COLOR=1 python3 "$TTY" -i d -i "" "$BOTTLE" supervise >"$T_ROOT/fake.tty"
out=$(tr -d '\r' <"$T_ROOT/fake.tty")
[ "$(echo "$out" | grep -c '^\[1/1\]')" = 1 ] && echo "$out" | grep -q '^  | \[1/1\] request_egress zzzzzzzz' &&
	! echo "$out" | grep -q '^ *host: docs' && echo "$out" | grep -q '^  host: real.test$' &&
	ok "the agent's text cannot pass for a request: every line of it starts with '  | '" || fail "fake request: $out"
echo "$out" | grep -q '^  | \.\.\. [0-9]* more lines' && ! echo "$out" | grep -q yyyyyyyy &&
	ok "a long text is cut, saying how many lines are left" || fail "cut: $out"
echo "$out" | grep -q 'request_egress [a-z2-9]\{8\}, host real.test: \[a\]pprove' &&
	ok "the prompt names the tool and the real host" || fail "prompt: $out"
python3 -c 'import sys; b = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
sys.exit(any(x in b for x in (b"\r", b"\x1b", "\u202e".encode())))' "$T_ROOT/fake.tty" &&
	echo "$out" | grep -qF 'docs.python.org \u202eevil\x0dX\x1b]0;t\x07' &&
	ok "bidi override, CR and OSC shown as escapes, never sent raw" || fail "raw controls: $out"
wait $cpid
grep -q 'DENIED: real.test stays blocked' "$T_ROOT/fake.out" && ok "and it is denied from the terminal" || fail "fake deny: $(cat "$T_ROOT/fake.out")"

# --- approval, denied with a note; plain JSON with a progress token ---------------------
mcp '{"jsonrpc":"2.0","id":"a1","method":"tools/call","params":{"name":"request_approval","arguments":{"action":"drop table users"},"_meta":{"progressToken":"pt"}}}' -N -H "$SSE" >"$T_ROOT/appr.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
until_ok has "$T_ROOT/appr.out" '"method":"notifications/progress"' &&
	has "$T_ROOT/appr.out" '"progressToken":"pt"' && ok "progress notifications for a progress token" || fail "progress: $(cat "$T_ROOT/appr.out")"
req=$(newest)
out=$("$BOTTLE" supervise answer "$req" --text "just text" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q -- '--approve or --deny' && ok "an approval needs a verdict: exit 2" || fail "verdict ($rc): $out"
"$BOTTLE" supervise answer "$req" --deny --text "not on a Friday" >/dev/null
wait $cpid
grep -q 'DENIED by the supervisor' "$T_ROOT/appr.out" && grep -q 'not on a Friday' "$T_ROOT/appr.out" &&
	grep -q '"id":"a1"' "$T_ROOT/appr.out" && ok "denied, with the note" || fail "deny: $(cat "$T_ROOT/appr.out")"

# Plain JSON (no SSE in Accept): the response comes when the answer does.
mcp "$(call request_approval '{"action":"deploy","reason":"tests pass"}' 9)" >"$T_ROOT/appr2.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
"$BOTTLE" supervise answer "$(newest)" --approve >/dev/null
wait $cpid
grep -q '^{"jsonrpc":"2.0","id":9,"result":{"content":\[{"type":"text","text":"APPROVED by the supervisor."}\],"isError":false}}$' "$T_ROOT/appr2.out" &&
	ok "approved, as plain JSON" || fail "approve: $(cat "$T_ROOT/appr2.out")"

# --- timeout (the quick bottle waits 2 s) --------------------------------------------
out=$(mcp_in "$qid" "$(call ask_supervisor '{"question":"anyone?"}')")
echo "$out" | grep -q 'No answer from the supervisor within 2 s' && echo "$out" | grep -q '"isError":true' &&
	ok "no answer in time: an error result saying so" || fail "timeout: $out"
req=$(ls "$S/$qid/supervise" | sed -n 's/\.req$//p' | head -1)
out=$("$BOTTLE" supervise answer "$req" --text late 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'already expired' && ok "answering an expired request: exit 1" || fail "expired ($rc): $out"

# --- request_egress: approved, the proxy lets the host through -------------------
pcode() { "$BOTTLE" exec "$id" -- curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$@"; }
[ "$(pcode http://extra.test/1k)" = 403 ] && ok "extra.test is refused before" || fail "extra.test before"
mcp "$(call request_egress '{"host":"Extra.test","reason":"the docs live there"}')" -N -H "$SSE" >"$T_ROOT/egress.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
"$BOTTLE" supervise --list | grep request_egress | grep -q 'extra.test: the docs live there' &&
	ok "the listing shows host and reason" || fail "egress listing"
"$BOTTLE" supervise answer "$(newest)" --approve >/dev/null
wait $cpid
grep -q 'APPROVED: extra.test is now allowed' "$T_ROOT/egress.out" && ok "egress approved" || fail "egress: $(cat "$T_ROOT/egress.out")"
[ "$(pcode http://extra.test/1k)" = 200 ] && ok "extra.test goes through the proxy after" || fail "extra.test after"
"$BOTTLE" logs "$id" --audit | grep '"method":"GRANT"' | grep -q '"host":"extra.test"' &&
	ok "the grant is audited" || fail "grant audit"
# Host names only: an address or range would lift the proxy's loopback and
# private-range rules; a granted name is still held to them.
jerr "$(call request_egress '{"host":"127.0.0.1:6379","reason":"r"}')" -32602 "egress for an IP address: -32602"
jerr "$(call request_egress '{"host":"10.0.0.0/8","reason":"r"}')" -32602 "egress for a CIDR: -32602"
jerr "$(call request_egress '{"host":"*.test","reason":"r"}')" -32602 "egress for a wildcard: -32602"
mcp "$(call request_egress '{"host":"localhost:6379","reason":"redis"}')" >"$T_ROOT/egress2.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
"$BOTTLE" supervise answer "$(newest)" --approve >/dev/null
wait $cpid
grep -q 'APPROVED: localhost:6379 is now allowed' "$T_ROOT/egress2.out" && ok "localhost:6379 approved" || fail "egress localhost: $(cat "$T_ROOT/egress2.out")"
out=$("$BOTTLE" exec "$id" -- curl -s --noproxy '' -w ' %{http_code}' --max-time 20 http://localhost:6379/)
echo "$out" | grep -q 'loopback address' && echo "$out" | grep -q ' 403$' &&
	ok "but the proxy still refuses its loopback address" || fail "granted localhost: $out"

# --- report ------------------------------------------------------------------------
mcp "$(call report '{"message":"half way there"}')" | grep -q 'Noted' && ok "report returns at once" || fail "report"
"$BOTTLE" supervise reports "$id" | grep -q 'half way there' && ok "bottle supervise reports shows it" || fail "reports"
mcp "$(call report '{"message":"done\nsomebottle 1s   all approved"}')" | grep -q 'Noted' || fail "report 2"
out=$("$BOTTLE" supervise reports "$id")
echo "$out" | grep -q '^  | somebottle 1s   all approved' && ! echo "$out" | grep -q '^somebottle' &&
	ok "a report's second line is marked as the agent's" || fail "report lines: $out"

# --- kill -9 of the bundle with a request pending ----------------------------------
pid=$(bundle_pid "$id")
mcp "$(call ask_supervisor '{"question":"still there?"}')" -N -H "$SSE" >"$T_ROOT/kill.out" &
cpid=$!
until_ok pending_is 1 || fail "the request is not listed"
req=$(newest)
kill -9 "$pid"
wait $cpid
grep -q 'answered' "$T_ROOT/kill.out" && fail "an answer after kill -9?" || ok "the waiting call ended with the bundle, unanswered"
until_ok serves "$id" && [ "$(bundle_pid "$id")" != "$pid" ] && ok "the bundle was restarted" || fail "no restart"
[ "$(newest)" = "$req" ] && [ "$(pending)" = 1 ] && ok "the request is still pending after the restart" || fail "lost: $(pending)"
"$BOTTLE" supervise answer "$req" --text "yes, still here" >/dev/null
out=$(mcp "$(call ask_supervisor '{"question":"still there?"}')")
echo "$out" | grep -q 'The supervisor answered: yes, still here' && ok "an identical re-ask gets the answer" || fail "re-ask: $out"
[ "$(pending)" = 0 ] && ok "and nothing is pending" || fail "pending after re-ask"
pid=$(bundle_pid "$id")
kill -9 "$pid"
until_ok serves "$id" && [ "$(bundle_pid "$id")" != "$pid" ]
[ "$(pcode http://extra.test/1k)" = 200 ] && ok "the egress grant holds after a restart" || fail "grant lost on restart"

# --- many waiting at once; hanging up while waiting -----------------------------
out=$("$BOTTLE" exec "$id" -- python3 /workspace/supervise_many.py 66 2)
[ "$(echo "$out" | grep -c 'Too many requests (64)')" = 2 ] && ok "past 64 pending, calls get an error at once" || fail "limit: $out"
until_ok pending_is 64 "$id" && ok "64 stay pending after their callers hung up" || fail "pending: $(pending "$id")"
serves "$id" && ok "the server still serves" || fail "server after many"
[ "$(pcode http://origin.test/1k)" = 200 ] && ok "and so does the proxy" || fail "proxy after many"
grep -q . "$S/$id/supervise/"*.req && ! ls "$S/$id/supervise" | grep -q '\.tmp$' && ok "no temp files left in the queue" || fail "queue dir"

# --- floods: bounded memory ------------------------------------------------------
# The bundle's loop is the proxy's too: an agent that pipelines requests
# and never reads the answers, or opens every connection with a big body,
# must not grow it without bound.  64 MiB is a functional bound (the
# unbounded server grew past 1 GB), not a measure of speed; sanitizers
# keep freed memory in quarantine, so there the bound is not checked.
kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$(bundle_pid "$id")/status"; }
bounded() { # bounded WHAT: VmRSS and VmHWM under 64 MiB
	rss=$(kb VmRSS) hwm=$(kb VmHWM)
	echo "# $1: bundle VmRSS $rss kB, VmHWM $hwm kB"
	if [ "${BOTTLE_SANITIZED:-none}" != none ]; then
		echo "# SKIP $1: the memory bound is not checked under sanitizers (ASan's quarantine)"
	elif [ -n "$rss" ] && [ "$rss" -lt 65536 ] && [ "$hwm" -lt 65536 ]; then
		ok "$1: the bundle stays under 64 MiB"
	else
		fail "$1: bundle VmRSS $rss kB, VmHWM $hwm kB"
	fi
}
flood() { # flood ARGS...: start supervise_flood.py, wait until it holds
	"$BOTTLE" exec "$id" -- rm -f /tmp/release
	"$BOTTLE" exec "$id" -- python3 /workspace/supervise_flood.py "$@" >"$T_ROOT/flood.out" 2>&1 &
	fpid=$!
	until_ok has "$T_ROOT/flood.out" '^held' || fail "flood $*: $(cat "$T_ROOT/flood.out")"
}
release() { "$BOTTLE" exec "$id" -- touch /tmp/release; wait $fpid; }
flood pipeline 8
cat "$T_ROOT/flood.out" | sed 's/^/# /'
bounded "8 MB of pipelined tools/list, never read"
release
n=$(sed -n 's/^sent [0-9]* bytes, \([0-9]*\) whole.*/\1/p' "$T_ROOT/flood.out")
[ -n "$n" ] && [ "$n" -gt 0 ] && grep -q "^answered $n of $n\$" "$T_ROOT/flood.out" &&
	ok "every pipelined request is answered once the agent reads" || fail "pipeline: $(cat "$T_ROOT/flood.out")"
bounded "and after reading the answers"
serves "$id" && ok "the server serves after the flood" || fail "server after the flood"
flood bodies 200 1000000
grep '503' "$T_ROOT/flood.out" | sed 's/^/# /'
bounded "200 connections each holding a 1 MB body"
release
serves "$id" && ok "the server serves after the bodies" || fail "server after the bodies"
"$BOTTLE" exec "$id" -- sh -c '{ printf "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\""
	head -c 900000 /dev/zero | tr "\0" a; printf "\"}}"; } >/tmp/ping.json'
big_ping() { # the hang-ups reach the bundle when they do: poll
	out=$("$BOTTLE" exec "$id" -- curl -s --max-time 60 -H "$CT" --data-binary @/tmp/ping.json $URL)
	[ "$out" = '{"jsonrpc":"2.0","id":1,"result":{}}' ]; }
until_ok big_ping && ok "a 900 KB request is served once they hung up" || fail "900 KB ping: $out"
[ "$(pcode http://origin.test/1k)" = 200 ] && ok "and the proxy still serves" || fail "proxy after the floods"

"$BOTTLE" logs "$id" >"$T_ROOT/logs.out" 2>&1
grep -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$T_ROOT/logs.out" &&
	fail "a sanitizer report in the bundle's log" || ok "no sanitizer report in the bundle's log"

"$BOTTLE" stop "$id" >/dev/null; "$BOTTLE" stop "$qid" >/dev/null
finish
