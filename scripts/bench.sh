#!/usr/bin/env bash
# `npm run bench`: ferry beside skopeo (bench/run.ts); results in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx bench/run.ts "$@"
