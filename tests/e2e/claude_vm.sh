#!/bin/sh
# claude_bottle.sh's scripted step with the agent in a vm bottle: the real
# Claude Code CLI in the guest (TCG), through the bundle on the gateway,
# against the fake Anthropic API, the real key only on the host side.
command -v qemu-system-x86_64 >/dev/null || {
	echo "SKIP: qemu-system-x86_64 missing (scripts/deps.sh installs qemu-system-x86)"
	exit 77
}
ls /lib/modules/*/modules.dep >/dev/null 2>&1 || {
	echo "SKIP: no guest kernel with modules (scripts/deps.sh installs linux-image-cloud-amd64)"
	exit 77
}
export XDG_CACHE_HOME="${TMPDIR:-/tmp}/bottle-e2e-claude_vm-cache.$$"
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
E2E_BOTTLE_EXTRA='    backend: vm
    vm: {accel: tcg, memory: 1G}
'
export E2E_BOTTLE_EXTRA
"$(dirname "$0")/claude_bottle.sh"
