#!/usr/bin/env bash
# The main job on the built-in lab (README: `npm run demo`): three real SSH hosts, the sample
# playbook converged, converged again (0 changed), checked (no drift), then the lab is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
P="node dist/src/cli.js"
LAB=demo
trap '$P lab down --name $LAB >/dev/null 2>&1 || true' EXIT
$P lab up --name $LAB --hosts 3
INV=.lab/$LAB/inventory.yaml
echo "== provision up (first run: converges)"
$P up "$INV" sample
echo "== provision up (second run: must change nothing)"
$P up "$INV" sample
echo "== provision check (dry run: no drift, exit 0)"
$P check "$INV" sample
echo "== the seed inventory rendered offline (never connected to): runbook in .lab/seed-runbook.md"
$P render inventory/seed.yaml --facts test/fixtures/facts/seed-legacy.yaml --limit director > .lab/seed-runbook.md || true
echo "demo ok"
