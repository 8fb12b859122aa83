#!/bin/sh
# The proxy tests' world works: origin.test over http and https, from inside
# the world and from the host through the veth, a dumb-HTTP git clone, and
# the echo server's record of a keep-alive pair and a chunked body.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"
[ "$(id -u)" -eq 0 ] || skip_all "the world needs root (network namespaces)"
command -v nginx >/dev/null || skip_all "nginx missing (scripts/deps.sh)"
world_up || { fail "world_up"; finish; }
world_nginx || { fail "world_nginx"; finish; }
world_echo || { fail "world_echo"; finish; }
ok "world up: $WORLD_NS $WORLD_HOST_IP <-> $WORLD_IP"

pin="--resolve origin.test:443:$WORLD_IP --resolve origin.test:80:$WORLD_IP"
# shellcheck disable=SC2086
get() { curl -sS --max-time 20 --cacert "$WORLD_CA" $pin -o "$1" -w '%{http_code}' "$2"; }
check "https /1k from the host" [ "$(get "$T_ROOT/1k" https://origin.test/1k)" = 200 ]
check "1k is 1024 bytes" [ "$(stat -c %s "$T_ROOT/1k")" = 1024 ]
check "http /1k from the host" [ "$(get /dev/null http://origin.test/1k)" = 200 ]
# shellcheck disable=SC2086
check "https /1k from inside the world" [ "$(world_exec curl -sS --max-time 20 --cacert "$WORLD_CA" \
	--resolve origin.test:443:127.0.0.1 -o /dev/null -w '%{http_code}' https://origin.test/1k)" = 200 ]
check "the test CA is what makes it trusted" [ "$(curl -s --max-time 20 $pin -o /dev/null -w '%{http_code}' https://origin.test/1k)" = 000 ]
check "https /100m is 100 MiB" [ "$(curl -sS --max-time 120 --cacert "$WORLD_CA" $pin -o /dev/null \
	-w '%{size_download}' https://origin.test/100m)" = 104857600 ]

# GIT_SSL_CAINFO, not http.sslCAInfo: the environment may set the former,
# and it wins over the config.
check "git clone https://origin.test/repo.git" env GIT_SSL_CAINFO="$WORLD_CA" git \
	-c http.curloptResolve="origin.test:443:$WORLD_IP" clone -q https://origin.test/repo.git "$T_ROOT/clone"
check "the clone has the commit" grep -q "hello from the world" "$T_ROOT/clone/README"

epin="--resolve api.test:8443:$WORLD_IP"
# shellcheck disable=SC2086
out=$(curl -sS --max-time 20 --cacert "$WORLD_CA" $epin -H 'Authorization: Bearer tok-1' \
	https://api.test:8443/a https://api.test:8443/b 2>&1)
check "echo answers two requests on one connection" [ "$(printf '%s\n' "$out" | grep -c '"method": "GET"')" = 2 ]
# shellcheck disable=SC2086
curl -sS --max-time 20 --cacert "$WORLD_CA" $epin -H 'Transfer-Encoding: chunked' \
	--data-binary 'hello world' https://api.test:8443/post >/dev/null
sha=$(printf 'hello world' | sha256sum | cut -d' ' -f1)
check "echo.jsonl has three records" [ "$(wc -l <"$WORLD_DIR/echo.jsonl")" = 3 ]
check "echo records the header" grep -q '"Authorization": "Bearer tok-1"' "$WORLD_DIR/echo.jsonl"
check "echo reads a chunked body" grep -q "\"body_len\": 11, \"body_sha256\": \"$sha\", .*\"method\": \"POST\"" "$WORLD_DIR/echo.jsonl"

ns=$WORLD_NS; veth="bwh$$"
cleanup_root
check "teardown removed the namespace" sh -c "! ip netns list | grep -qw $ns"
check "teardown removed the veth" sh -c "! ip link show $veth 2>/dev/null | grep -q ."
echo "$T_NAME: $T_PASSES passed, $T_FAILS failed"
[ "$T_FAILS" -eq 0 ]
