#!/usr/bin/env bash
# The main job on the built-in lab (README: `npm run demo`): boots VMs with a real IPVS kernel
# (client, director, rs1, rs2 on a loopback-only qemu LAN), converges the seed's topology
# (VS/TUN, rr, mon health checks), converges again (0 changed), and proves it with real traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Labs of this checkout stay in its .lab/ (a user's default is ~/.local/state/provision/labs).
export PROVISION_LAB_DIR="$PWD/.lab"
P="node dist/src/cli.js"
LAB=${PROVISION_DEMO_LAB:-demo}
trap '$P lab down --name "$LAB" >/dev/null 2>&1 || true' EXIT
$P lab up --name "$LAB" --driver vm --forwarding tun
INV=.lab/$LAB/inventory.yaml
echo "== the web application on the real servers (busybox httpd, port 80)"
$P up "$INV" sample --limit real_servers -e demo_port=80
echo "== provision up: the LVS cluster (director, real servers, mon, IPVS table)"
$P up "$INV"
echo "== provision up again: must change nothing"
$P up "$INV"
echo "== provision check: no drift (exit 0)"
$P check "$INV"
echo "== provision verify: rules, VIP, ARP, sysctls, and 20 real requests through the VIP"
$P verify "$INV"
echo "== the seed inventory (production addresses), every host rendered offline, never connected to: .lab/seed-runbook.md, files in .lab/seed/"
$P render inventory/seed.yaml --facts test/fixtures/facts/seed-legacy.yaml --out .lab/seed > .lab/seed-runbook.md
echo "demo ok: provision built a working LVS (VS/TUN) and proved it"
