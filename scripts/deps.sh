#!/bin/sh
# Install what bot-bottle needs to build, test and run, from Debian's apt.
# Idempotent: packages already present are not reinstalled, and apt-get
# update runs only when something is missing.
#
#   scripts/deps.sh            build + test + runtime dependencies
#   scripts/deps.sh --bench    also what bench/ compares against
#
# The vm backend's tests need QEMU (qemu-system-x86, which brings
# /usr/lib/qemu/virtiofsd) and a guest kernel with its modules
# (linux-image-cloud-amd64: /boot/vmlinuz-*-cloud-amd64).  INITRD=No tells
# Debian's kernel hook not to generate an initrd for it: the vm backend
# builds its own initramfs, and update-initramfs would add tens of seconds.
# xz-utils, zstd and gzip decompress a guest kernel's compressed modules
# (.ko.xz, .ko.zst, .ko.gz) into the initramfs.
set -eu

pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libyaml-dev
libseccomp-dev libssl-dev openssl libhyperscan-dev libevent-dev
libcmocka-dev nginx-light fcgiwrap iproute2 bubblewrap util-linux bsdutils procps curl git
ca-certificates python3
qemu-system-x86 linux-image-cloud-amd64 xz-utils zstd gzip"
if [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs docker.io busybox-static time tinyproxy mitmproxy haproxy"
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
else
	sudo=
fi
echo "deps: installing:$missing" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -qq --no-install-recommends $missing >/dev/null
