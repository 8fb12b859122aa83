# A private "internet" for proxy tests.  Source after lib.sh, as root:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/world.sh"
#   [ "$(id -u)" -eq 0 ] || skip_all "needs root"
#   world_up || skip_all "cannot build the world"
#   world_cert echo.test api.test
#   world_nginx; world_echo
#   curl --cacert "$WORLD_CA" --resolve origin.test:443:$WORLD_IP https://origin.test/1k
#
# world_up makes a network namespace $WORLD_NS joined to the host's by a veth
# pair (host side $WORLD_HOST_IP, world side $WORLD_IP, a /30 in 10.77.0.0/16
# picked from $$ so that parallel runs do not clash) and a test CA $WORLD_CA
# (EC P-256) in $WORLD_DIR.  Servers run inside the namespace and listen on
# every address there.  Nothing resolves names: clients pin them (curl
# --resolve, git -c http.curloptResolve=..., a manifest's egress.resolve).
# cleanup_root (and an EXIT trap) tears everything down: processes in the
# namespace killed by pid, namespace and veth deleted.  Nothing under /etc is
# touched; nginx gets its own config, pid file, logs and temp dirs.

WORLD_NS="bw$$"
_world_veth_host="bwh$$"
_world_veth_ns="bww$$"
_world_idx=$(($$ % 16384))
WORLD_HOST_IP="10.77.$((_world_idx / 64)).$((_world_idx % 64 * 4 + 1))"
WORLD_IP="10.77.$((_world_idx / 64)).$((_world_idx % 64 * 4 + 2))"
WORLD_DIR="$T_ROOT/world"
WORLD_CA="$WORLD_DIR/ca.crt"
export WORLD_NS WORLD_IP WORLD_HOST_IP WORLD_CA WORLD_DIR
_world_here=${SRCDIR:+$SRCDIR/tests/e2e}
_world_here=${_world_here:-$(cd "$(dirname "$0")" && pwd)}
# The 100 MiB file is made once and kept (random bytes: nothing compresses).
WORLD_CACHE=${BOTTLE_WORLD_CACHE:-/var/tmp/bottle-world-cache}
_world_is_up=0
_world_reaper=""

world_exec() { # world_exec CMD...: run CMD inside the world namespace
	ip netns exec "$WORLD_NS" "$@"
}

world_up() {
	[ "$(id -u)" -eq 0 ] || { echo "world_up: needs root" >&2; return 1; }
	command -v ip >/dev/null && command -v openssl >/dev/null || {
		echo "world_up: needs ip (iproute2) and openssl" >&2; return 1; }
	mkdir -p "$WORLD_DIR/certs" "$WORLD_DIR/www" || return 1
	chmod 755 "$WORLD_DIR" "$WORLD_DIR/www"
	# Teardown is registered before anything exists, so that a failure half
	# way still removes what was made.
	T_CLEANUP="world_down $T_CLEANUP"
	trap 'world_down' EXIT
	trap 'world_down; exit 130' INT
	trap 'world_down; exit 143' TERM
	_world_is_up=1
	# A SIGKILLed test runs no trap: a watcher tears the world down when
	# this shell is gone (stdio closed, so a test harness is not kept
	# waiting on it).
	(while kill -0 $$ 2>/dev/null; do sleep 1; done; world_down) </dev/null >/dev/null 2>&1 &
	_world_reaper=$!
	ip netns add "$WORLD_NS" &&
		ip link add "$_world_veth_host" type veth peer name "$_world_veth_ns" &&
		ip link set "$_world_veth_ns" netns "$WORLD_NS" &&
		ip addr add "$WORLD_HOST_IP/30" dev "$_world_veth_host" &&
		ip link set "$_world_veth_host" up &&
		world_exec ip addr add "$WORLD_IP/30" dev "$_world_veth_ns" &&
		world_exec ip link set "$_world_veth_ns" up &&
		world_exec ip link set lo up || { echo "world_up: network setup failed" >&2; return 1; }
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$WORLD_DIR/ca.key" -out "$WORLD_CA" -days 30 \
		-subj "/CN=bottle world test CA $$" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || {
		echo "world_up: cannot make the test CA" >&2; return 1; }
	chmod 644 "$WORLD_CA"
}

world_cert() { # world_cert NAME [NAME...] -> $WORLD_DIR/certs/NAME.crt|.key
	c="$WORLD_DIR/certs/$1"
	san=""
	for n in "$@"; do san="${san:+$san,}DNS:$n"; done
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
		"$san" >"$c.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$c.key" -out "$c.csr" -subj "/CN=$1" >/dev/null 2>&1 &&
		openssl x509 -req -in "$c.csr" -CA "$WORLD_CA" -CAkey "$WORLD_DIR/ca.key" \
			-CAcreateserial -days 30 -extfile "$c.ext" -out "$c.crt" >/dev/null 2>&1 || {
		echo "world_cert: cannot make a certificate for $*" >&2; return 1; }
	chmod 644 "$c.crt" "$c.key"  # nginx's workers are not root
}

# The 100 MiB random file, made once under $WORLD_CACHE.
_world_100m() {
	f="$WORLD_CACHE/100m"
	[ "$(stat -c %s "$f" 2>/dev/null)" = 104857600 ] && { echo "$f"; return 0; }
	mkdir -p "$WORLD_CACHE" && chmod 755 "$WORLD_CACHE" &&
		head -c 104857600 /dev/urandom >"$f.$$" && chmod 644 "$f.$$" &&
		mv "$f.$$" "$f" && echo "$f"
}

# A bare repository with one commit, served as dumb HTTP.
_world_repo() {
	w="$WORLD_DIR/repo-work"
	g="git -C $w -c user.email=world@test -c user.name=world"
	mkdir -p "$w" && git -C "$w" init -q &&
		echo "hello from the world" >"$w/README" && $g add README &&
		$g commit -qm "world: first commit" &&
		git clone -q --bare "$w" "$WORLD_DIR/www/repo.git" &&
		git -C "$WORLD_DIR/www/repo.git" update-server-info &&
		chmod -R a+rX "$WORLD_DIR/www/repo.git"
}

world_nginx() { # nginx for origin.test on :80 and :443 in the world
	command -v nginx >/dev/null || { echo "world_nginx: nginx missing (scripts/deps.sh)" >&2; return 1; }
	[ -f "$WORLD_DIR/certs/origin.test.crt" ] || world_cert origin.test || return 1
	n="$WORLD_DIR/nginx"
	mkdir -p "$n/tmp" || return 1
	head -c 1024 /dev/urandom >"$WORLD_DIR/www/1k" || return 1
	big=$(_world_100m) && ln -sf "$big" "$WORLD_DIR/www/100m" || {
		echo "world_nginx: cannot make the 100 MiB file" >&2; return 1; }
	chmod 644 "$WORLD_DIR/www/1k"
	_world_repo || { echo "world_nginx: cannot make the git repository" >&2; return 1; }
	cat >"$n/nginx.conf" <<-EOF
	daemon on;
	worker_processes 1;
	user nobody nogroup;
	pid $n/nginx.pid;
	error_log $n/error.log warn;
	events { worker_connections 1024; }
	http {
	    access_log $n/access.log;
	    client_body_temp_path $n/tmp/body;
	    proxy_temp_path $n/tmp/proxy;
	    fastcgi_temp_path $n/tmp/fastcgi;
	    uwsgi_temp_path $n/tmp/uwsgi;
	    scgi_temp_path $n/tmp/scgi;
	    default_type application/octet-stream;
	    sendfile on;
	    keepalive_requests 1000000;
	    server {
	        listen 80;
	        listen 443 ssl;
	        server_name origin.test;
	        ssl_certificate $WORLD_DIR/certs/origin.test.crt;
	        ssl_certificate_key $WORLD_DIR/certs/origin.test.key;
	        root $WORLD_DIR/www;
	    }
	}
	EOF
	world_exec nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" || {
		echo "world_nginx: nginx failed to start:" >&2; cat "$n/error.log" >&2; return 1; }
	_world_wait_port 443 && _world_wait_port 80
}

world_echo() { # world_echo [PORT]: the JSON echo server (HTTPS) in the world
	port=${1:-8443}
	[ -f "$WORLD_DIR/certs/echo.test.crt" ] || world_cert echo.test api.test || return 1
	rm -f "$WORLD_DIR/echo.$port.ready"
	world_exec python3 "$_world_here/world_echo.py" --port "$port" \
		--cert "$WORLD_DIR/certs/echo.test.crt" --key "$WORLD_DIR/certs/echo.test.key" \
		--log "$WORLD_DIR/echo.jsonl" --ready "$WORLD_DIR/echo.$port.ready" \
		>"$WORLD_DIR/echo.$port.log" 2>&1 &
	i=0
	while [ ! -e "$WORLD_DIR/echo.$port.ready" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 $! 2>/dev/null || {
			echo "world_echo: server did not start:" >&2
			cat "$WORLD_DIR/echo.$port.log" >&2; return 1; }
		sleep 0.1
	done
}

_world_wait_port() { # until something listens on PORT in the world (10 s)
	i=0
	until world_exec ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; do
		i=$((i + 1)); [ $i -le 100 ] || { echo "world: nothing listens on :$1" >&2; return 1; }
		sleep 0.1
	done
}

world_down() { # idempotent; safe on a half-built world
	[ "$_world_is_up" = 1 ] || return 0
	_world_is_up=0
	[ -n "$_world_reaper" ] && kill "$_world_reaper" 2>/dev/null
	_world_reaper=""
	if ip netns pids "$WORLD_NS" >/dev/null 2>&1; then
		pids=$(ip netns pids "$WORLD_NS")
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill $pids 2>/dev/null
		i=0
		while [ -n "$(ip netns pids "$WORLD_NS" 2>/dev/null)" ] && [ $i -lt 30 ]; do
			sleep 0.1; i=$((i + 1))
		done
		pids=$(ip netns pids "$WORLD_NS" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$WORLD_NS" 2>/dev/null
	fi
	ip link del "$_world_veth_host" 2>/dev/null
	return 0
}
