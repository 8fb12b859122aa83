#!/bin/sh
# The bundle builds what an idle bottle does not use at first use: the DLP
# database at the first request, the bottle's CA at the first intercepted
# CONNECT (docs/bundle.md, "Lifecycle").  The first request after a start
# works; a CA or DLP cache found broken only then gives the agent a clear
# answer and the log a reason; a later request works once it is mended.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"

world_up || { fail "world_up"; finish; }
world_echo 8443 || { fail "world_echo"; finish; }

# The DLP cache of this test alone, never the user's.
export XDG_CACHE_HOME="$T_ROOT/cache"
proj=$(make_project proj)
cat >"$proj/bottle.yaml" <<Y
agents:
  t: {command: [sleep, "600"], bottle: b}
bottles:
  b:
    egress:
      allow: ["echo.test:8443"]
      inspect: [echo.test]
      resolve: {echo.test: $WORLD_IP}
      ca: $WORLD_CA
      dlp:
        patterns: [{name: acme-id, regex: "ACME-[0-9]{8}", action: block}]
Y
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_ROOT/resolv.conf"
export BOTTLE_RESOLV_CONF="$T_ROOT/resolv.conf"
cd "$proj" || exit 1
id=$("$BOTTLE" run -d --yes 2>"$T_ROOT/run.err")
[ -n "$id" ] || { cat "$T_ROOT/run.err"; fail "launch"; finish; }
ok "launch"
state="$XDG_STATE_HOME/bottle/$id"
log="$state/logs/bundle.log"

bx() { "$BOTTLE" exec "$id" -- "$@"; }
code() { # code CURL-ARGS...: the HTTP status curl saw (proxy's or origin's)
	bx curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$@"
}
bundle_pid() {
	grep -o '"bundle:[0-9]*' "$state/meta.json" | tail -1 | cut -d: -f2
}
# Kill the bundle; the monitor starts a new one, which has loaded nothing.
restart_bundle() {
	old=$(bundle_pid)
	kill -9 "$old" 2>/dev/null || return 1
	for _ in $(seq 100); do
		new=$(bundle_pid)
		[ -n "$new" ] && [ "$new" != "$old" ] && grep -q "serving" "$log" && return 0
		sleep 0.1
	done
	return 1
}

# --- idle: nothing built ------------------------------------------------------
bx true
grep -q 'dlp: .* rules' "$log" && fail "the DLP database was built before any request" ||
	ok "an idle bundle has not built its DLP database"
grep -q "the bottle's CA loaded" "$log" && fail "the CA was loaded before any CONNECT" ||
	ok "an idle bundle has not loaded its CA"
# The stage module and its libraries are loaded at first use (stage.h).
# (Hyperscan's libstdc++ too, except under the sanitizers, which link it.)
heavy='bottle-bundle-stages\.so|libssl|libcrypto|libhs\.'
[ -n "${BOTTLE_SANITIZED:-}" ] || heavy="$heavy|libstdc\+\+"
maps="/proc/$(bundle_pid)/maps"
[ -r "$maps" ] && ! grep -Eq "$heavy" "$maps" &&
	ok "an idle bundle maps neither OpenSSL nor Hyperscan ($(grep VmRSS "${maps%maps}status" | tr -s ' \t' ' '))" ||
	fail "an idle bundle maps: $(grep -Eo "$heavy.*" "$maps" | sort -u | tr '\n' ' ')"

# --- the first request works --------------------------------------------------
[ "$(code https://echo.test:8443/first)" = 200 ] &&
	ok "the first request (intercepted) works" || fail "first request"
grep -q 'dlp: .* rules, .* (at the first request)' "$log" &&
	ok "the DLP database was built at the first request" || fail "dlp at first request: $(cat "$log")"
grep -q "the bottle's CA loaded .*first intercepted" "$log" &&
	ok "the CA was loaded at the first intercepted CONNECT" || fail "CA at first CONNECT"
[ "$(code --data "id=ACME-12345678" https://echo.test:8443/leak)" = 403 ] &&
	ok "the lazily built DLP blocks (a manifest pattern)" || fail "dlp block"
grep -q "bottle-bundle-stages\.so" "$maps" &&
	ok "the first request loaded the stage module" || fail "no stage module in $maps"

# --- a CA broken after start: 502 with the reason, then mended ------------------
restart_bundle && ok "the bundle restarted" || fail "restart"
[ "$(code http://evil.test/)" = 403 ] || fail "a plain request after the restart"
chmod 0644 "$state/ca/ca.key"
body=$(bx curl -s -p -x http://127.0.0.1:8888 --max-time 20 -o /dev/null -w '%{http_connect}' https://echo.test:8443/badca)
[ "$body" = 502 ] && ok "CONNECT with a broken CA: 502" || fail "broken CA: CONNECT answered $body"
reason=$(bx sh -c 'printf "CONNECT echo.test:8443 HTTP/1.1\r\nHost: echo.test:8443\r\n\r\n" |
	timeout 10 python3 -c "
import socket, sys
s = socket.create_connection((\"127.0.0.1\", 8888)); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode(errors=\"replace\"))"')
echo "$reason" | grep -q "the bottle's CA" && ok "... the agent is told why" || fail "502 reason: $reason"
grep -q "the bottle's CA: .*ca.key" "$log" && ok "... and the log says why" || fail "log: $(tail -3 "$log")"
sleep 0.4
"$BOTTLE" logs "$id" --audit | grep '"status":502' | grep -q "the bottle's CA" &&
	ok "... and the audit line" || fail "audit of the 502"
chmod 0600 "$state/ca/ca.key"
[ "$(code https://echo.test:8443/mended)" = 200 ] &&
	ok "once the CA is mended the next CONNECT works" || fail "after mending the CA"

# --- a DLP cache broken after start: recompiled, said so, the request works -----
restart_bundle || fail "second restart"
n=0
for f in "$XDG_CACHE_HOME"/bottle/dlp/*.hsdb; do
	[ -f "$f" ] && printf 'garbage' >"$f" && n=$((n + 1))
done
[ "$n" -gt 0 ] && ok "corrupted $n cached DLP database(s)" || fail "no DLP cache to corrupt"
[ "$(code --data "id=ACME-12345678" https://echo.test:8443/leak2)" = 403 ] &&
	ok "with a corrupt cache the first request is still scanned (403)" || fail "dlp with a corrupt cache"
grep -q 'dlp cache: .*recompiling' "$log" && ok "... and the log says the cache was recompiled" ||
	fail "cache warning: $(tail -3 "$log")"
[ "$(code https://echo.test:8443/after)" = 200 ] && ok "... and clean requests go through" || fail "after recompiling"

"$BOTTLE" stop "$id" >/dev/null 2>&1
bundle_stopped_clean "$state"

# --- checked at start: a pattern that does not compile stops the bottle ------
# (the start-up child checks it while the agent starts: an agent that has
# exited by then is not stopped, and its requests would get a 503 anyway)
[ -d "$XDG_STATE_HOME/bottle/.ca-spare" ] && ok "a spare CA was made for the next bottle" ||
	fail "no spare CA after a bottle ran"
sed -i 's/regex: "ACME-\[0-9\]{8}"/regex: "ACME-([0-9]{8}"/' bottle.yaml
grep -q 'ACME-(\[' bottle.yaml || fail "the test could not break the pattern"
timeout 60 "$BOTTLE" run --yes -- sleep 50 >/dev/null 2>"$T_ROOT/bad.err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "dlp pattern acme-id" "$T_ROOT/bad.err" &&
	ok "a DLP pattern that does not compile: bottle run fails, saying which" ||
	fail "bad pattern at start: exit $rc, $(cat "$T_ROOT/bad.err")"
finish
