#!/usr/bin/env bash
# Installs what provision and its lab need on a fresh Debian 12 machine (as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# qemu + squashfs-tools + cpio: the VM lab (real IPVS kernel); arping/curl are used inside VMs only.
# keepalived: its own parser (keepalived -t) checks the keepalived.conf we render, in the unit tests.
# libperl-minimumversion-perl, devscripts (checkbashisms): static checks of every rendered perl and sh script (Perl 5.8, old shells).
for p in mmdebstrap openssh-client openssh-server iproute2 sudo dpkg-dev qemu-system-x86 squashfs-tools cpio keepalived libperl-minimumversion-perl devscripts; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The VM lab downloads the kernel with apt-get download: package lists must exist.
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
# A sshd on the controller is only used by the SSH layer's tests (on 127.0.0.1, its own config); never started as a service.
mkdir -p /run/sshd
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
rm -rf dist
npx tsc -p .
