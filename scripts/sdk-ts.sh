#!/usr/bin/env bash
# TypeScript SDK test: installs the pinned npm packages of gen/ts (npm ci,
# offline cache first), compiles the SDK and its test with tsc, starts a
# private Canopy (ingest-svc, status-svc, analysis-svc on free ports, its own
# database and blob folder, so it never collides with `make demo` or other
# tests), and runs gen/ts/test/sdk.test.ts against its REST gateways: upload
# over REST, GetImage, WatchImage to COMPLETED, GetAnalysis, ListImages, 404.
# Everything it started is stopped on exit.
#
#   bash scripts/sdk-ts.sh
#   CANOPY_BIN_DIR=.bin bash scripts/sdk-ts.sh        # reuse binaries from `make build`
#   SDK_TS_COMPILE_ONLY=1 bash scripts/sdk-ts.sh      # npm ci + tsc only (no services)
#
# Needs Node.js 20+ and npm, Go, PostgreSQL on 127.0.0.1:5432 with trust auth
# (scripts/deps.sh), GDAL for analysis-svc.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { printf '==> %s\n' "$*" >&2; }

command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }
node -e 'const m = +process.versions.node.split(".")[0];
  if (m < 18) { console.error("Node.js 20+ is needed, found " + process.version); process.exit(1) }
  if (m < 20) console.error("warning: Node.js " + process.version + " is below the tested 20+ (protoc-gen-es 2.13 declares node >=20)")'

# ---- install and compile ------------------------------------------------------
ts=$root/gen/ts
make -s ts-deps
log "compiling the TypeScript SDK and its test (tsc)"
rm -rf "$ts/dist"
(cd "$ts" && ./node_modules/.bin/tsc -p tsconfig.json)
if [ -n "${SDK_TS_COMPILE_ONLY:-}" ]; then exit 0; fi

# ---- a private stack ----------------------------------------------------------
SKIP_TOOLS=1 bash scripts/deps.sh
mkdir -p "$root/.run"
run=$(mktemp -d "$root/.run/sdk-ts.XXXXXX")
mkdir -p "$run/logs" "$run/blobs"
db=canopy_sdkts_$$_$(date +%s)
pids=()
ok=
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "$ok" ]; then rm -rf "$run"; else echo "sdk-ts: failed; service logs are in $run/logs" >&2; fi
}
trap cleanup EXIT

if [ -n "${CANOPY_BIN_DIR:-}" ]; then
  bin=$(cd "$CANOPY_BIN_DIR" && pwd)
else
  log "building the services and the canopy CLI"
  bin=$run/bin
  go build -o "$bin/" ./ingest-svc/cmd/ingest-svc ./status-svc/cmd/status-svc ./analysis-svc/cmd/analysis-svc ./cli/cmd/canopy
fi

# Five ports the kernel says are free right now.
read -r p_ig p_sg p_ag p_ih p_sh < <(node -e '
  const net = require("net"); const ports = [];
  (function next() {
    if (ports.length === 5) { console.log(ports.join(" ")); return; }
    const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s.address().port); s.close(next); });
  })();')

psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export BLOB_STORE=local BLOB_DIR="$run/blobs" WORK_DIR="$run" LOG_FORMAT=text
export INGEST_GRPC_ADDR=127.0.0.1:$p_ig INGEST_HTTP_ADDR=127.0.0.1:$p_ih
export STATUS_GRPC_ADDR=127.0.0.1:$p_sg STATUS_HTTP_ADDR=127.0.0.1:$p_sh
export ANALYSIS_GRPC_ADDR=127.0.0.1:$p_ag INGEST_ADDR=127.0.0.1:$p_ig
export WORKERS=1 SHUTDOWN_GRACE=2s AUTH_MODE=keys

wait_http() {
  for _ in $(seq 1 150); do
    curl -sf "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "service at $1 did not become healthy; see $run/logs" >&2
  exit 1
}
log "starting ingest-svc, status-svc, analysis-svc (database $db)"
"$bin/ingest-svc" >"$run/logs/ingest.log" 2>&1 & pids+=($!)
wait_http "$INGEST_HTTP_ADDR" # it migrates the schema before it is healthy
# Real keys, as a deployment has them: an uploader for the SDK, a worker
# for analysis-svc (key management goes straight to the database).
sdk_key=$("$bin/canopy" admin key create --project default --role uploader --name sdk-ts)
worker_key=$("$bin/canopy" admin key create --role worker --name sdk-ts-analysis)
"$bin/status-svc" >"$run/logs/status.log" 2>&1 & pids+=($!)
API_KEY=$worker_key "$bin/analysis-svc" >"$run/logs/analysis.log" 2>&1 & pids+=($!)
wait_http "$STATUS_HTTP_ADDR"

"$bin/canopy" sample "$run/sample" >/dev/null

log "running the TypeScript SDK test"
CANOPY_INGEST_HTTP="http://$INGEST_HTTP_ADDR" CANOPY_STATUS_HTTP="http://$STATUS_HTTP_ADDR" CANOPY_API_KEY=$sdk_key \
CANOPY_SAMPLE_FILE="$run/sample/field_rgn.tif" CANOPY_SAMPLE_LAYOUT=RGN \
  timeout 180 node --test "$ts/dist/test/sdk.test.js"
ok=1
