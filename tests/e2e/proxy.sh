#!/bin/sh
# The sidecar bundle end to end: a real bottle, real clients inside it
# (curl, git, python, node), real TLS, origins in a world network namespace
# the test made (world.sh).  Nothing leaves namespaces the test created:
# every name resolves through the bundle's resolve override to the world.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"
command -v nginx >/dev/null || skip_all "nginx missing (scripts/deps.sh installs nginx-light)"

world_up || { fail "world_up"; finish; }
world_nginx || { fail "world_nginx"; finish; }
world_echo 8443 || { fail "world_echo"; finish; }

TOKEN="real-secret-tok-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export E2E_TOKEN="$TOKEN"
proj=$(make_project proj)
cp "$WORLD_CA" "$proj/world-ca.crt"
cp "$(dirname "$0")/proxy_badinput.py" "$proj/"
cat >"$proj/bottle.yaml" <<Y
agents:
  t: {command: [sleep, "600"], bottle: b}
bottles:
  b:
    egress:
      allow: [origin.test, "echo.test:8443", "api.test:8443", localhost, "*.wild.test:8443", mismatch.test]
      inspect: [echo.test, mismatch.test]
      routes:
        - {host: api.test, header: Authorization, value: "Bearer \${env:E2E_TOKEN}", placeholder_env: API_TOKEN}
      resolve: {origin.test: $WORLD_IP, echo.test: $WORLD_IP, api.test: $WORLD_IP, a.wild.test: $WORLD_IP, mismatch.test: $WORLD_IP}
      ca: $WORLD_CA
      dlp:
        patterns: [{name: acme-id, regex: "ACME-[0-9]{8}", action: block}]
Y
# node's own fetch ignores HTTPS_PROXY; undici's EnvHttpProxyAgent is what
# programs use (Claude Code does the same).  Pinned, from npm, cached.
undici=$(sh "$SRCDIR/scripts/npm-cache.sh" undici 6.21.3 2>/dev/null) &&
	mkdir -p "$proj/node_modules" && cp -r "$undici" "$proj/node_modules/undici"
# Knobs the bundle honours: a short head timeout for the slowloris case,
# and a resolver that can only fail (loopback, nothing listening), so that
# no test ever sends a DNS query off this machine.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_ROOT/resolv.conf"
export BOTTLE_HEAD_TIMEOUT_MS=2000 BOTTLE_RESOLV_CONF="$T_ROOT/resolv.conf"
cd "$proj" || exit 1
id=$("$BOTTLE" run -d --yes 2>"$T_ROOT/run.err")
[ -n "$id" ] || { cat "$T_ROOT/run.err"; fail "launch"; finish; }
ok "launch with a bundle"

bx() { "$BOTTLE" exec "$id" -- "$@"; }
code() { # code CURL-ARGS...: the HTTP status curl saw (proxy's or origin's)
	bx curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$@"
}
CA=/workspace/world-ca.crt
echo_last() { tail -1 "$WORLD_DIR/echo.jsonl"; }

# --- provisioning -----------------------------------------------------------
env_out=$(bx env)
for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy NO_PROXY \
	NODE_EXTRA_CA_CERTS SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE \
	GIT_SSL_CAINFO; do
	echo "$env_out" | grep -q "^$v=" || fail "env $v is set in exec"
done
echo "$env_out" | grep -q '^HTTPS_PROXY=http://127.0.0.1:8888$' &&
	ok "HTTPS_PROXY points at the bundle" || fail "HTTPS_PROXY: $(echo "$env_out" | grep HTTPS_PROXY)"
echo "$env_out" | grep -q '^API_TOKEN=bottle-placeholder-API_TOKEN$' &&
	ok "the agent holds the placeholder" || fail "placeholder env"
bx grep -q "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt &&
	[ "$(bx grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt)" -gt \
	  "$(grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt 2>/dev/null || echo 0)" ] &&
	ok "the bundle's CA joined the bottle's CA bundle" || fail "CA bundle"

# --- allowed traffic, real clients -------------------------------------------
[ "$(code http://origin.test/1k)" = 200 ] && ok "curl: plain http through the proxy" || fail "curl http"
[ "$(code --cacert $CA https://origin.test/1k)" = 200 ] && ok "curl: https tunnel" || fail "curl https tunnel"
bx env GIT_SSL_CAINFO=$CA git clone -q https://origin.test/repo.git /tmp/repo >/dev/null 2>&1 &&
	bx test -f /tmp/repo/README && ok "git clone over https through the proxy" || fail "git clone"
[ "$(code https://echo.test:8443/inspected)" = 200 ] &&
	ok "curl: intercepted https with the bottle's CA" || fail "curl intercept"
connect() { # connect URL: the proxy's answer to curl's CONNECT
	bx curl -s -o /dev/null -w '%{http_connect}' --max-time 20 -k "$@"
}
[ "$(connect https://a.wild.test:8443/)" = 200 ] && ok "a *.suffix allow rule" || fail "glob allow"
if bx python3 -c '
import urllib.request, sys
r = urllib.request.urlopen("https://echo.test:8443/python", timeout=20)
sys.exit(0 if r.status == 200 else 1)'; then ok "python urllib through the proxy"; else fail "python urllib"; fi

if [ -d "$proj/node_modules/undici" ] && command -v node >/dev/null; then
	out=$(bx node --no-warnings -e '
const { fetch, EnvHttpProxyAgent } = require("/workspace/node_modules/undici");
fetch("https://echo.test:8443/node", { dispatcher: new EnvHttpProxyAgent() })
  .then(r => r.json()).then(j => console.log(j.path)).catch(e => { console.error(e); process.exit(1); });' 2>&1)
	[ "$out" = /node ] && ok "node fetch through the proxy" || fail "node fetch: $out"
else
	echo "# node fetch skipped: undici not installable or node missing"
fi

# --- injection ----------------------------------------------------------------
bx sh -c 'curl -s -o /dev/null -H "Authorization: Bearer $API_TOKEN" https://api.test:8443/inject' 2>/dev/null
grep -q "\"Bearer $TOKEN\"" "$WORLD_DIR/echo.jsonl" && echo_last | grep -q '/inject' &&
	ok "the route injected the real token upstream" || { fail "injection"; echo_last; }
bx sh -c 'curl -s -o /dev/null -H "Authorization: Bearer $API_TOKEN" https://echo.test:8443/noroute'
echo_last | grep -q '/noroute' && echo_last | grep -q 'bottle-placeholder-API_TOKEN' &&
	ok "the placeholder sent to a host without a route stays a placeholder" || { fail "placeholder kept"; echo_last; }

# --- denials ------------------------------------------------------------------
[ "$(code http://evil.test/)" = 403 ] && ok "GET to a host not on the allowlist: 403" || fail "deny GET"
[ "$(connect https://evil.test/)" = 403 ] &&
	ok "CONNECT to a host not on the allowlist: 403" || fail "deny CONNECT"
[ "$(connect https://origin.test:8443/)" = 403 ] && ok "an allowed host on another port: 403" || fail "port rule"
[ "$(code --noproxy '' http://localhost/)" = 403 ] && ok "an allowed name resolving to loopback: denied" || fail "loopback deny"
[ "$(code http://$WORLD_IP/)" = 403 ] && ok "an IP literal: denied" || fail "IP literal deny"
bx curl -s --max-time 5 http://evil.test/ | grep -q "not in allowlist\|not allowed" &&
	ok "the 403 says why" || fail "403 reason: $(bx curl -s http://evil.test/)"
bx curl -s --noproxy '*' --max-time 5 -o /dev/null http://$WORLD_IP/ &&
	fail "a direct TCP connect reached the world" || ok "a direct TCP connect to the world fails"

# --- DLP ------------------------------------------------------------------------
AWS=AKIA$(echo IOSFODNN7EXAMPLQ)
GH=ghp_$(printf 'a%.0s' $(seq 36))
[ "$(code "http://origin.test/1k?key=$AWS")" = 403 ] && ok "dlp: a key in the URL is blocked" || fail "dlp url"
[ "$(code -H "X-Token: $GH" https://echo.test:8443/h)" = 403 ] && ok "dlp: a key in a header (intercepted) is blocked" || fail "dlp header"
[ "$(code --data "leak=$GH" https://echo.test:8443/b)" = 403 ] && ok "dlp: a key in the body is blocked" || fail "dlp body"
b64=$(printf '%s' "$GH" | base64 -w0)
[ "$(code --data "x=$b64" http://origin.test/1k)" = 403 ] && ok "dlp: a base64-encoded key is blocked" || fail "dlp base64"
hex=$(printf '%s' "$TOKEN" | od -An -tx1 | tr -d ' \n')
[ "$(code --data "x=$hex" https://echo.test:8443/hex)" = 403 ] && ok "dlp: the hex of the injected token is blocked" || fail "dlp hex token"
[ "$(code --data "t=$TOKEN" https://echo.test:8443/t)" = 403 ] && ok "dlp: the injected token itself is blocked" || fail "dlp token"
[ "$(code --data "id=ACME-12345678" http://origin.test/1k)" = 403 ] && ok "dlp: a manifest pattern blocks" || fail "dlp custom"
bx sh -c 'head -c 3000000 /dev/zero | tr "\0" a > /tmp/big; printf "\n%s" "'"$GH"'" >> /tmp/big'
[ "$(code --data-binary @/tmp/big https://echo.test:8443/bigbody)" = 403 ] &&
	ok "dlp: a key at the end of a 3 MB streamed body is blocked" || fail "dlp stream"
grep -q '/bigbody' "$WORLD_DIR/echo.jsonl" && fail "a blocked body reached the origin" ||
	ok "the blocked body never reached the origin"
sleep 0.3
audit=$("$BOTTLE" logs "$id" --audit)
echo "$audit" | grep '"verdict":"block"' | grep -q '"path"' && ok "blocks are audited" || fail "audit block"
echo "$audit" | grep '"verdict":"deny"' | grep -q 'evil.test' && ok "denials are audited" || fail "audit deny"
echo "$audit" | grep -q "$AWS" && fail "the audit log holds a secret" || ok "the audit path is redacted"

# --- the real token is nowhere inside ---------------------------------------
pat=$(echo "$TOKEN" | sed 's/.$/[&]/')
found=$(bx sh -c "grep -rl -e '$pat' /proc/[0-9]*/environ /proc/[0-9]*/cmdline /home /workspace /tmp /run /etc 2>/dev/null")
[ -z "$found" ] && ok "the real token appears nowhere inside the bottle" || fail "token found in: $found"

# --- bad input --------------------------------------------------------------------
bx python3 /workspace/proxy_badinput.py > "$T_ROOT/bad.out" 2>&1
grep '^ok\|^FAIL' "$T_ROOT/bad.out" | sed 's/^/  /'
grep -q '^FAIL' "$T_ROOT/bad.out" && fail "bad input cases" || ok "bad input: $(grep -c '^ok' "$T_ROOT/bad.out") cases answered, bundle alive"
[ "$(code http://origin.test/1k)" = 200 ] && ok "the bundle still serves after bad input" || fail "alive after bad input"

# --- supervision --------------------------------------------------------------------
bpid=$(grep -o '"bundle:[0-9]*' "$XDG_STATE_HOME/bottle/$id/meta.json" | tail -1 | cut -d: -f2)
if [ -n "$bpid" ] && kill -9 "$bpid" 2>/dev/null; then
	[ "$(code http://origin.test/1k)" = 200 ] && ok "a killed bundle is restarted and the next request works" ||
		fail "restart"
else
	fail "finding the bundle's pid"
fi

"$BOTTLE" stop "$id" >/dev/null 2>&1
bundle_stopped_clean "$XDG_STATE_HOME/bottle/$id"
finish
