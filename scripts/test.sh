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
report="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line for CI: "Tests: N passed, N failed[, N skipped]".
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit $status
