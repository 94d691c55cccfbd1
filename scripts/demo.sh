#!/usr/bin/env bash
# `npm run demo`: the main job on an embedded default image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx scripts/demo.ts "$@"
