#!/usr/bin/env bash
# The README's first command: install what is needed, then build an example end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
node packages/builder/dist/cli/main.js graph -f examples/hello/Dockerfile
