#!/usr/bin/env bash
# Runs every test of every module against real PostgreSQL, a real
# S3-compatible server (versitygw, started by the tests) and GDAL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PWD/.bin:$PATH"
# The S3 conformance suite must run here, never skip.
export CANOPY_REQUIRE_S3=1
if [ ! -d ../shared/data ] && [ -z "${CANOPY_SHARED_DATA:-}" ]; then
  echo "note: ../shared/data not found: tests on real drone images will be skipped" >&2
fi
pkgs=()
for m in gen platform ingest-svc analysis-svc status-svc cli e2e bench; do pkgs+=("./$m/..."); done
go test -count=1 -timeout 30m "$@" "${pkgs[@]}"
# The TypeScript SDK, compiled and called against a private running stack.
bash scripts/sdk-ts.sh
