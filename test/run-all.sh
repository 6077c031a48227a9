#!/usr/bin/env bash
# The test command (README: `npm test`): sets up the machine, builds, runs unit, SSH and lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Lab tests start real sshd hosts in namespaces; run files one at a time (2 cores).
exec node --test --test-concurrency=1 dist/test/unit/ dist/test/ssh/ dist/test/lab/
