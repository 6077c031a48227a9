#!/usr/bin/env bash
# The test command (README: `npm test`): sets up the machine, builds, lints, then runs
#   unit  - pure logic and real local shells (no network)
#   ssh   - the SSH layer against a real sshd on 127.0.0.1
#   lab   - container hosts (namespaces + real sshd): engine, modules, LVS playbooks, rollback
#   vm    - the VM lab's parts (image inputs, initramfs, qemu command line)
#   e2e   - one set of VMs (qemu TCG, Debian cloud kernel with IPVS): the VM lab itself with
#           save/restore, then LVS end to end for TUN, DR and NAT: traffic, failover, drift, repair
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Labs of this checkout stay in its .lab/ (a user's default is ~/.local/state/provision/labs).
export PROVISION_LAB_DIR="$PWD/.lab"
# Format and lint first (Biome, biome.json): a file not formatted or a lint error fails the run before any test.
npx biome ci --diagnostic-level=error .
# Files run one at a time: lab and VM tests are CPU-bound on 2 cores.
exec node --test --test-concurrency=1 dist/test/unit/ dist/test/ssh/ dist/test/lab/ dist/test/vm/ dist/test/e2e/
