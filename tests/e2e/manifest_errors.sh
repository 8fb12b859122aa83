#!/bin/sh
# Manifest errors: file:line:col and what was expected, exit 2, and nothing
# created.
. "$(dirname "$0")/lib.sh"
proj=$(make_project proj)
cd "$proj" || exit 1

expect_error() { # expect_error DESC PATTERN MANIFEST
	desc=$1 pattern=$2
	printf "$3" > bottle.yaml
	"$BOTTLE" run --yes -- true </dev/null >/dev/null 2>"$T_ROOT/err"; rc=$?
	if [ $rc -eq 2 ] && grep -Eq "$pattern" "$T_ROOT/err" && [ -z "$(bottle_ids)" ]; then
		ok "$desc"
	else
		fail "$desc (rc=$rc, want 2 and /$pattern/): $(cat "$T_ROOT/err")"
	fi
}

expect_error "YAML syntax error" 'bottle.yaml:[0-9]+:[0-9]+:' 'agents:\n  a:\n    command: [sh\n'
expect_error "wrong type" 'bottle.yaml:3:[0-9]+:.*command' 'agents:\n  a:\n    command: {x: 1}\n'
expect_error "unknown key" 'bottle.yaml:4:5:.*colou?r' 'agents:\n  a:\n    command: [sh]\n    colour: red\n'
expect_error "dangling agent->bottle reference" 'bottle.yaml:4:[0-9]+:.*nope' 'agents:\n  a:\n    command: [sh]\n    bottle: nope\n'
expect_error "memory: lots" 'bottle.yaml:7:[0-9]+:.*memory.*(size|expected)' 'agents:\n  a:\n    command: [sh]\n    bottle: b\nbottles:\n  b:\n    limits: {memory: lots}\n'
expect_error "unknown backend" 'bottle.yaml:6:[0-9]+:.*backend' 'agents:\n  a:\n    command: [sh]\nbottles:\n  b:\n    backend: teleport\n'
expect_error "bad resolve address" 'bottle.yaml:6:[0-9]+:' 'agents:\n  a:\n    command: [sh]\nbottles:\n  b:\n    egress: {resolve: {api.example.com: not-an-ip}}\n'
expect_error "empty manifest" 'empty' ''
rm -f bottle.yaml
"$BOTTLE" run --manifest "$T_ROOT/missing.yaml" --yes -- true </dev/null >/dev/null 2>"$T_ROOT/err"; rc=$?
check "a missing --manifest exits 2" [ $rc -eq 2 ]
check "and names the file" grep -q missing.yaml "$T_ROOT/err"

# Lookup order: --manifest, ./bottle.yaml, ~/.config/bottle/manifest.yaml.
mkdir -p "$XDG_CONFIG_HOME/bottle"
printf 'agents:\n  fromconfig:\n    command: [sh]\n' > "$XDG_CONFIG_HOME/bottle/manifest.yaml"
check "falls back to the user's config manifest" sh -c '"$BOTTLE" plan | grep -q "agent     fromconfig"'
printf 'agents:\n  fromcwd:\n    command: [sh]\n' > bottle.yaml
check "./bottle.yaml wins over the config" sh -c '"$BOTTLE" plan | grep -q "agent     fromcwd"'
printf 'agents:\n  explicit:\n    command: [sh]\n' > "$T_ROOT/m.yaml"
check "--manifest wins over both" sh -c '"$BOTTLE" plan --manifest "$T_ROOT/m.yaml" | grep -q "agent     explicit"'
finish
