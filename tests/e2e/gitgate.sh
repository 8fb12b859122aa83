#!/bin/sh
# The git gate end to end: a real bottle whose git reaches two upstreams
# only through the bundle's gate (the /etc/gitconfig insteadOf rewrite).
#   web    https://git.test/web.git: git http-backend behind nginx (fcgiwrap)
#          in the world namespace, basic auth with a token the host holds
#   local  a file:// repository with a pre-receive hook of its own
# Real git everywhere; nothing leaves namespaces the test made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/world.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for the world network namespace"
for p in nginx fcgiwrap git python3; do
	command -v $p >/dev/null || skip_all "$p missing (scripts/deps.sh)"
done
HERE=$(cd "$(dirname "$0")" && pwd)

world_up || { fail "world_up"; finish; }
world_cert git.test || { fail "world_cert"; finish; }

TOKEN="gate-tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
G="git -c user.email=t@t -c user.name=t -c init.defaultBranch=main"
UP="$T_ROOT/up"
mkdir -p "$UP" "$WORLD_DIR/git"

# --- the upstreams ------------------------------------------------------------
$G init -q "$T_ROOT/seed" && echo "hello" >"$T_ROOT/seed/README" &&
	$G -C "$T_ROOT/seed" add README && $G -C "$T_ROOT/seed" commit -qm first || {
	fail "seed repository"; finish; }
for r in "$WORLD_DIR/git/web.git" "$UP/local.git"; do
	git init -q --bare -b main "$r" && git -C "$T_ROOT/seed" push -q "$r" main ||
		{ fail "upstream $r"; finish; }
done
cat >"$UP/local.git/hooks/pre-receive" <<'EOF'
#!/bin/sh
while read -r old new ref; do
	case $ref in refs/heads/bottle/blocked)
		echo "upstream says no to $ref" >&2; exit 1;;
	esac
done
EOF
chmod 755 "$UP/local.git/hooks/pre-receive"

# git http-backend over HTTPS, the token checked by basic auth.
n="$WORLD_DIR/gitnginx"
mkdir -p "$n/tmp"
printf 'x-access-token:%s\n' "$(openssl passwd -apr1 "$TOKEN")" >"$n/htpasswd"
chmod 644 "$n/htpasswd"
world_exec fcgiwrap -c 4 -s "unix:$n/fcgi.sock" </dev/null >"$n/fcgiwrap.log" 2>&1 &
i=0
until [ -S "$n/fcgi.sock" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
chmod 666 "$n/fcgi.sock" 2>/dev/null || { fail "fcgiwrap did not start"; finish; }
cat >"$n/nginx.conf" <<EOF
daemon on;
worker_processes 1;
user nobody nogroup;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 256; }
http {
    access_log $n/access.log;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    server {
        listen 443 ssl;
        server_name git.test;
        ssl_certificate $WORLD_DIR/certs/git.test.crt;
        ssl_certificate_key $WORLD_DIR/certs/git.test.key;
        client_max_body_size 0;
        location / {
            auth_basic "git";
            auth_basic_user_file $n/htpasswd;
            fastcgi_pass unix:$n/fcgi.sock;
            fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
            fastcgi_param GIT_PROJECT_ROOT $WORLD_DIR/git;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO \$uri;
            fastcgi_param REMOTE_USER \$remote_user;
            fastcgi_param QUERY_STRING \$args;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param CONTENT_TYPE \$content_type;
            fastcgi_param CONTENT_LENGTH \$content_length;
            fastcgi_param GIT_PROTOCOL \$http_git_protocol;
        }
    }
}
EOF
world_exec nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" && _world_wait_port 443 || {
	fail "nginx for git.test"; cat "$n/error.log"; finish; }
pin="git.test:443:$WORLD_IP"
GIT_SSL_CAINFO="$WORLD_CA" git -c http.curloptResolve="$pin" ls-remote \
	"https://x-access-token:$TOKEN@git.test/web.git" main >/dev/null 2>&1 &&
	ok "the https upstream serves with the token" || fail "https upstream with token"
GIT_SSL_CAINFO="$WORLD_CA" GIT_TERMINAL_PROMPT=0 git -c http.curloptResolve="$pin" \
	ls-remote "https://git.test/web.git" >/dev/null 2>&1 &&
	fail "the https upstream serves without the token" || ok "the https upstream wants the token"

# Optional: an ssh upstream in the world that accepts only a key the host
# holds (sshd from openssh-server, when installed).
SSHD=$(command -v sshd || ls /usr/sbin/sshd 2>/dev/null)
SSH_UPSTREAM=""
if [ -n "$SSHD" ]; then
	s="$WORLD_DIR/sshd"
	mkdir -p "$s" /run/sshd && chmod 700 "$s" &&
		ssh-keygen -q -t ed25519 -N '' -f "$s/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -C bottle-gate -f "$T_ROOT/id_gate" &&
		ssh-keygen -q -t ed25519 -N '' -f "$T_ROOT/id_other" &&
		cp "$T_ROOT/id_gate.pub" "$s/authorized_keys" &&
		git init -q --bare -b main "$UP/ssh.git" && git -C "$T_ROOT/seed" push -q "$UP/ssh.git" main &&
		printf 'git.test %s\n' "$(cut -d' ' -f1,2 "$s/host_key.pub")" >"$T_ROOT/known_hosts" || {
		fail "ssh set-up"; finish; }
	printf '%s\n' "Port 22" "HostKey $s/host_key" "PidFile $s/sshd.pid" \
		"AuthorizedKeysFile $s/authorized_keys" "PubkeyAuthentication yes" \
		"PasswordAuthentication no" "KbdInteractiveAuthentication no" \
		"PermitRootLogin prohibit-password" "AllowUsers root" "StrictModes no" \
		"UsePAM no" >"$s/sshd_config"
	world_exec "$SSHD" -f "$s/sshd_config" -E "$s/sshd.log" && _world_wait_port 22 || {
		fail "sshd"; cat "$s/sshd.log"; finish; }
	ssh_to() { # ssh_to KEY: does the ssh upstream serve git to KEY?
		ssh -i "$1" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$T_ROOT/known_hosts" \
			-o HostKeyAlias=git.test -o HostName="$WORLD_IP" root@git.test \
			"git-upload-pack '$UP/ssh.git'" </dev/null 2>/dev/null | head -c 4 | grep -q .
	}
	ssh_to "$T_ROOT/id_gate" && ok "the ssh upstream takes the host's key" || fail "ssh with the key"
	ssh_to "$T_ROOT/id_other" && fail "the ssh upstream takes any key" || ok "the ssh upstream refuses another key"
	# Host keys are still checked: the host's GIT_SSH_COMMAND names the
	# known-hosts file, and the gate adds the identity to it.
	export GIT_SSH_COMMAND="ssh -o UserKnownHostsFile=$T_ROOT/known_hosts"
	SSH_UPSTREAM="
        - name: sshup
          url: ssh://root@git.test$UP/ssh.git
          identity: $T_ROOT/id_gate
          push: [\"refs/heads/bottle/*\"]"
else
	echo "# sshd not installed: the ssh identity path is not tested"
fi

# --- the bottle ------------------------------------------------------------------
proj=$(make_project proj)
cp "$HERE/gitgate_badinput.py" "$proj/"
cat >"$proj/bottle.yaml" <<Y
agents:
  t: {command: [sleep, "900"], bottle: b}
bottles:
  b:
    egress:
      allow: [git.test]
      inspect: [git.test]
      ca: $WORLD_CA
      resolve: {git.test: $WORLD_IP}
    git:
      upstreams:
        - name: web
          url: https://git.test/web.git
          token: "\${env:E2E_GIT_TOKEN}"
          push: ["refs/heads/bottle/*"]
        - name: local
          url: file://$UP/local.git
          push: ["refs/heads/bottle/*"]
          allow_force: true
          allow_delete: true$SSH_UPSTREAM
Y
cd "$proj" || exit 1
# The gate's git trusts the world's CA (GIT_SSL_CAINFO wins over
# http.sslCAInfo); refresh at every fetch; a short head timeout.
export GIT_SSL_CAINFO="$WORLD_CA" BOTTLE_GIT_REFRESH_MS=0 BOTTLE_HEAD_TIMEOUT_MS=2000

E2E_GIT_TOKEN=wrong-token "$BOTTLE" run -d --yes >/dev/null 2>"$T_ROOT/bad.err" &&
	fail "a launch with a wrong token succeeded" ||
	{ grep -q "git upstream web: cloning https://git.test/web.git failed" "$T_ROOT/bad.err" &&
		ok "a wrong token fails the launch, naming the upstream" ||
		{ fail "wrong token message"; cat "$T_ROOT/bad.err"; }; }
env -u E2E_GIT_TOKEN "$BOTTLE" run -d --yes >/dev/null 2>"$T_ROOT/unset.err" &&
	fail "a launch with the token unset succeeded" ||
	{ grep -q 'E2E_GIT_TOKEN' "$T_ROOT/unset.err" && ok "an unset token fails the launch" ||
		{ fail "unset token message"; cat "$T_ROOT/unset.err"; }; }
for id in $(bottle_ids); do "$BOTTLE" rm "$id" >/dev/null 2>&1; done

export E2E_GIT_TOKEN="$TOKEN"
id=$("$BOTTLE" run -d --yes 2>"$T_ROOT/run.err")
[ -n "$id" ] || { cat "$T_ROOT/run.err"; fail "launch"; finish; }
ok "launch with two git upstreams"
STATE="$XDG_STATE_HOME/bottle/$id"
[ -f "$STATE/git/web.git/HEAD" ] && [ -f "$STATE/git/local.git/HEAD" ] &&
	ok "the launch mirrored both upstreams" || fail "mirrors in $STATE/git"

bx() { "$BOTTLE" exec "$id" -- "$@"; }
bsh() { "$BOTTLE" exec "$id" -- sh -c "$1" 2>&1; }
up_rev() { git -C "$1" rev-parse -q --verify "$2" 2>/dev/null; }
WEB="$WORLD_DIR/git/web.git"
bsh 'git config --global user.email agent@bottle && git config --global user.name agent' >/dev/null

# --- fetch ------------------------------------------------------------------------
bsh 'git clone -q https://git.test/web.git /tmp/web && git clone -q file://'"$UP"'/local.git /tmp/local' \
	>"$T_ROOT/clone.out"
bx test -f /tmp/web/README && ok "clone of the https upstream through the gate" ||
	{ fail "clone web"; cat "$T_ROOT/clone.out"; }
bx test -f /tmp/local/README && ok "clone of the file:// upstream through the gate" || fail "clone local"
# The bundle holds the upstream's token, so its DLP looks for it too.
[ "$(bx curl -s -o /dev/null -w '%{http_code}' --data "t=$TOKEN" https://git.test/leak)" = 403 ] &&
	ok "the upstream token sent through the proxy is blocked (DLP)" || fail "dlp of the git token"
bx git -C /tmp/web config remote.origin.url | grep -q '^https://git.test/web.git$' &&
	ok "the agent's remote is the upstream's URL (the rewrite is git's)" || fail "remote URL"

# The upstream moves; the next fetch through the gate refreshes the mirror.
$G clone -q "$WEB" "$T_ROOT/outside" && echo more >"$T_ROOT/outside/more" &&
	$G -C "$T_ROOT/outside" add more && $G -C "$T_ROOT/outside" commit -qm "outside" &&
	git -C "$T_ROOT/outside" push -q origin main
bsh 'cd /tmp/web && git pull -q' >/dev/null
bx test -f /tmp/web/more && ok "a fetch refreshes the mirror from the upstream" || fail "refresh"

# --- push ------------------------------------------------------------------------------
out=$(bsh 'cd /tmp/web && echo a >a && git add a && git commit -qm a && git push origin HEAD:refs/heads/bottle/feature')
[ "$(up_rev "$WEB" bottle/feature)" = "$(bx git -C /tmp/web rev-parse HEAD)" ] &&
	ok "a push to an allowed branch lands in the https upstream (token identity)" ||
	{ fail "push to bottle/feature"; echo "$out"; }
main_before=$(up_rev "$WEB" main)
out=$(bsh 'cd /tmp/web && git push origin HEAD:main')
rc=$?
echo "$out" | grep -q "refs/heads/main: this bottle may not push there" &&
	[ "$(up_rev "$WEB" main)" = "$main_before" ] &&
	ok "a push to a protected branch is rejected, with the reason" || { fail "protected branch"; echo "$out"; }
feat=$(up_rev "$WEB" bottle/feature)
out=$(bsh 'cd /tmp/web && git commit -q --amend -m amended && git push -f origin HEAD:refs/heads/bottle/feature')
echo "$out" | grep -q "not a fast-forward; force pushes are not allowed" &&
	[ "$(up_rev "$WEB" bottle/feature)" = "$feat" ] &&
	ok "a force push is rejected" || { fail "force push"; echo "$out"; }
[ "$(up_rev "$STATE/git/web.git" bottle/feature)" = "$feat" ] &&
	ok "the mirror keeps what the upstream has" || fail "mirror after refused push"

if [ -n "$SSH_UPSTREAM" ]; then
	out=$(bsh 'git clone -q ssh://root@git.test'"$UP"'/ssh.git /tmp/ssh && cd /tmp/ssh &&
		echo s >s && git add s && git commit -qm s && git push origin HEAD:refs/heads/bottle/ssh')
	[ -n "$(up_rev "$UP/ssh.git" bottle/ssh)" ] &&
		[ "$(up_rev "$UP/ssh.git" bottle/ssh)" = "$(bx git -C /tmp/ssh rev-parse HEAD)" ] &&
		ok "clone and push through the gate to the ssh upstream (key identity)" ||
		{ fail "ssh upstream through the gate"; echo "$out"; }
fi

# local allows force and delete.
LOCAL="$UP/local.git"
bsh 'cd /tmp/local && echo x >x && git add x && git commit -qm x && git push -q origin HEAD:refs/heads/bottle/f' >/dev/null
out=$(bsh 'cd /tmp/local && git commit -q --amend -m x2 && git push -f origin HEAD:refs/heads/bottle/f')
[ "$(up_rev "$LOCAL" bottle/f)" = "$(bx git -C /tmp/local rev-parse HEAD)" ] &&
	ok "allow_force: a force push lands" || { fail "allowed force push"; echo "$out"; }
out=$(bsh 'cd /tmp/local && git push origin :refs/heads/bottle/f')
[ -z "$(up_rev "$LOCAL" bottle/f)" ] && ok "allow_delete: a delete lands" || { fail "allowed delete"; echo "$out"; }
out=$(bsh 'cd /tmp/local && git push origin HEAD:refs/heads/bottle/blocked')
echo "$out" | grep -q "upstream says no to refs/heads/bottle/blocked" &&
	[ -z "$(up_rev "$STATE/git/local.git" bottle/blocked)" ] &&
	ok "the upstream's refusal reaches the agent; the mirror stays as it was" ||
	{ fail "upstream refusal"; echo "$out"; }

# --- refusals ------------------------------------------------------------------------
out=$(bsh 'git ls-remote git://127.0.0.1:9418/secret.git')
echo "$out" | grep -q 'remote error: bottle: no git upstream named "secret.git"' &&
	ok "an undeclared repository is refused, and git says why" || { fail "undeclared repo"; echo "$out"; }
out=$(bsh 'git clone -q https://git.test/other.git /tmp/other')
[ -n "$out" ] && ! bx test -d /tmp/other/.git && ok "an undeclared https repository is not reachable" ||
	{ fail "undeclared https"; echo "$out"; }

# --- bad input ---------------------------------------------------------------------------
# For the crafted pushes: M, a fast-forward of main, pushed to an allowed
# branch; C, whose tree holds a gitlink to M at refs/heads/bottle/x (so that
# the refspec "C:refs/heads/bottle/x:refs/heads/main" would name M).
C=$(bsh 'cd /tmp/local && git fetch -q origin && git checkout -q -b evil origin/main &&
	git commit -q --allow-empty -m evil && M=$(git rev-parse HEAD) &&
	git push -q origin HEAD:refs/heads/bottle/m &&
	t=$(printf "160000 commit %s\tx\n" $M | git mktree) &&
	t=$(printf "040000 tree %s\tbottle\n" $t | git mktree) &&
	t=$(printf "040000 tree %s\theads\n" $t | git mktree) &&
	t=$(printf "040000 tree %s\trefs\n" $t | git mktree) &&
	c=$(git commit-tree $t -m gitlink) && git push -q origin $c:refs/heads/bottle/c && echo $c' | tail -1)
main_before=$(git -C "$LOCAL" rev-parse refs/heads/main)
bx python3 /workspace/gitgate_badinput.py "$C" >"$T_ROOT/badin.out" 2>&1
sed 's/^/  /' "$T_ROOT/badin.out"
grep -q '^FAIL' "$T_ROOT/badin.out" && fail "bad input cases" ||
	ok "bad input: $(grep -c '^ok' "$T_ROOT/badin.out") cases answered, gate alive"
[ "$(git -C "$LOCAL" rev-parse refs/heads/main)" = "$main_before" ] &&
	ok "ref names crafted to rewrite the forwarded refspec leave upstream main alone" ||
	fail "a crafted ref name moved upstream main"

# 2000 refs in one push.
t0=$(date +%s%N)
out=$(bsh 'cd /tmp/local && for i in $(seq 2000); do echo "create refs/heads/bottle/many/$i HEAD"; done |
	sed "s/HEAD/$(git rev-parse HEAD)/" | git update-ref --stdin && git push -q origin "refs/heads/bottle/many/*:refs/heads/bottle/many/*"')
t1=$(date +%s%N)
[ "$(git -C "$LOCAL" for-each-ref refs/heads/bottle/many | wc -l)" = 2000 ] &&
	ok "a push of 2000 refs lands ($(( (t1 - t0) / 1000000 )) ms)" || { fail "2000 refs"; echo "$out" | tail -5; }
# A huge ref name: whatever git makes of it, the answer is clear and
# nothing is left half done.
long=$(printf 'd%.0s' $(seq 200))
out=$(bsh "cd /tmp/local && git push origin HEAD:refs/heads/bottle/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long")
echo "# huge ref: $(echo "$out" | tail -2 | tr '\n' ' ' | cut -c1-200)"
[ "$(up_rev "$LOCAL" "refs/heads/bottle/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long")" = \
  "$(up_rev "$STATE/git/local.git" "refs/heads/bottle/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long")" ] &&
	ok "a 2 KB ref name: the mirror agrees with the upstream" || fail "huge ref"

# Two pushes to one branch at once: one wins, the other is told.
bsh 'git clone -q file://'"$UP"'/local.git /tmp/r1 && git clone -q file://'"$UP"'/local.git /tmp/r2 &&
	cd /tmp/r1 && echo 1 >r && git add r && git commit -qm r1 &&
	cd /tmp/r2 && echo 2 >r && git add r && git commit -qm r2' >/dev/null
bsh 'cd /tmp/r1 && git push origin HEAD:refs/heads/bottle/race >/tmp/p1 2>&1; echo $? >/tmp/c1' &
p1=$!
bsh 'cd /tmp/r2 && git push origin HEAD:refs/heads/bottle/race >/tmp/p2 2>&1; echo $? >/tmp/c2' &
p2=$!
wait $p1 $p2
codes="$(bx cat /tmp/c1) $(bx cat /tmp/c2)"
race=$(up_rev "$LOCAL" bottle/race)
case "$codes" in
"0 1"|"1 0") ok "concurrent pushes: one lands, one fails ($codes)";;
*) fail "concurrent pushes: exit codes $codes"; bx cat /tmp/p1 /tmp/p2;;
esac
[ -n "$race" ] && [ "$race" = "$(up_rev "$STATE/git/local.git" bottle/race)" ] &&
	ok "concurrent pushes: the mirror agrees with the upstream" || fail "race mirror"
git -C "$STATE/git/local.git" fsck --no-dangling >/dev/null 2>&1 &&
	git -C "$STATE/git/web.git" fsck --no-dangling >/dev/null 2>&1 &&
	ok "the mirrors pass git fsck" || fail "fsck of the mirrors"

# The upstream goes away: fetches are served from the mirror as it is.
mv "$LOCAL" "$LOCAL.away"
bsh 'cd /tmp/local && git fetch -q origin' >"$T_ROOT/away.out" &&
	ok "with the upstream gone, a fetch is served from the mirror" || { fail "fetch, upstream gone"; cat "$T_ROOT/away.out"; }
mv "$LOCAL.away" "$LOCAL"
grep -q "git upstream local: refreshing the mirror failed" "$STATE/logs/bundle.log" &&
	ok "the failed refresh is logged" || fail "refresh failure log"

# --- audit and secrets -----------------------------------------------------------------------
sleep 0.3
audit=$("$BOTTLE" logs "$id" --audit)
echo "$audit" | grep '"mode":"git-push"' | grep '"verdict":"allow"' | grep -q 'refs/heads/bottle/feature' &&
	ok "audit: the allowed push, with its refs" || fail "audit allow"
echo "$audit" | grep '"mode":"git-push"' | grep '"verdict":"deny"' | grep -q '"reason":"refs/heads/main: this bottle may not push there' &&
	ok "audit: the refused push, with the reason" || fail "audit deny"
echo "$audit" | grep '"verdict":"rejected"' | grep -q 'upstream says no' &&
	ok "audit: the upstream's refusal, with its message" || fail "audit rejected"
echo "$audit" | grep '"mode":"git"' | grep -q '"verdict":"deny".*secret.git' &&
	ok "audit: the undeclared repository" || fail "audit undeclared"
echo "$audit" | grep -q "$TOKEN" && fail "the audit log holds the token" || ok "the audit log has no token"

pat=$(echo "$TOKEN" | sed 's/.$/[&]/')
found=$(bsh "grep -rl -e '$pat' /proc/[0-9]*/environ /proc/[0-9]*/cmdline /home /workspace /tmp /run /etc 2>/dev/null")
[ -z "$found" ] && ok "the upstream token appears nowhere inside the bottle" || fail "token found in: $found"
if [ -n "$SSH_UPSTREAM" ]; then
	keyline=$(sed -n 2p "$T_ROOT/id_gate" | cut -c1-40 | sed 's/.$/[&]/')
	found=$(bsh "grep -rl -e '$keyline' /proc/[0-9]*/environ /proc/[0-9]*/cmdline /home /workspace /tmp /run /etc 2>/dev/null")
	[ -z "$found" ] && ! bx test -e "$T_ROOT/id_gate" &&
		ok "the ssh key appears nowhere inside the bottle" || fail "ssh key found in: $found"
fi
bx test -e "$STATE/git" && fail "the mirrors are visible inside" || ok "the mirrors are not inside the bottle"
grep -rl -e "$pat" "$STATE/git" "$STATE/plan.json" >/dev/null 2>&1 &&
	fail "the token was written to the state dir" || ok "the token is in no file of the state dir"

"$BOTTLE" stop "$id" >/dev/null 2>&1
sleep 0.3
grep -q 'Sanitizer' "$STATE/logs/bundle.log" && { fail "sanitizer report in bundle.log"; grep -A20 Sanitizer "$STATE/logs/bundle.log" | head -40; }
pgrep -f "$STATE/git/" >/dev/null && fail "git children outlived the bottle" || ok "no git child outlives the bottle"
finish
