#!/usr/bin/env bash
# `npm test`: install what is missing, build, lint, then run every test (unit, integration
# against real loopback registries, end-to-end with the built CLIs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: lint and format check"
npx biome check .
echo "test: typecheck"
npx turbo run typecheck --output-logs=errors-only
npx tsc -p tsconfig.json
echo "test: vitest"
npx vitest run "$@"
