#!/usr/bin/env bash
# The main job: start PostgreSQL (installing it and GDAL if missing), build
# and start the three services on a local blob store, upload sample images
# (real drone images from ../shared/data when present, plus two synthetic
# ones the CLI makes), watch them to completion and print the results.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SKIP_TOOLS=1 bash scripts/deps.sh
export PATH="$root/.bin:$PATH"

echo "==> building services and the canopy CLI" >&2
mkdir -p .bin
go build -o .bin/ ./ingest-svc/cmd/ingest-svc ./status-svc/cmd/status-svc ./analysis-svc/cmd/analysis-svc ./cli/cmd/canopy

for port in 7001 7002 7003 8001 8002 8003; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is already in use (another Canopy running?); stop it first" >&2
    exit 1
  fi
done

run=$root/.run/demo
rm -rf "$run" && mkdir -p "$run/logs"
db=canopy_demo
PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export BLOB_STORE=local BLOB_DIR="$run/blobs" WORK_DIR="$run" LOG_FORMAT=text
# Real API keys, as in production (AUTH_MODE=keys is the default): the demo
# makes its own below, once ingest-svc has created the schema.
export AUTH_MODE=keys

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "==> starting ingest-svc, status-svc, analysis-svc (logs in .run/demo/logs)" >&2
ingest-svc >"$run/logs/ingest.log" 2>&1 & pids+=($!)
wait_http() {
  for _ in $(seq 1 100); do
    curl -sf "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "service at $1 did not become healthy; see $run/logs" >&2
  exit 1
}
wait_http 127.0.0.1:8001 # ingest-svc migrates the schema before it is healthy
# An admin key of project "default" for the CLI, and a worker key of every
# project for analysis-svc. Key management goes straight to the database.
CANOPY_API_KEY=$(canopy admin key create --project default --role admin --name demo 2>/dev/null)
worker_key=$(canopy admin key create --role worker --name demo-analysis 2>/dev/null)
export CANOPY_API_KEY
echo "==> development API key (admin of project default; shown once):" >&2
echo "    export CANOPY_API_KEY=$CANOPY_API_KEY" >&2
status-svc >"$run/logs/status.log" 2>&1 & pids+=($!)
API_KEY=$worker_key ANALYSIS_HTTP_ADDR=127.0.0.1:8003 analysis-svc >"$run/logs/analysis.log" 2>&1 & pids+=($!)
wait_http 127.0.0.1:8002

batch="demo-$(date +%Y%m%d-%H%M%S)"
echo "==> uploading (batch $batch)" >&2
canopy sample "$run/sample" >/dev/null


canopy upload --batch "$batch" --layout RGN "$run/sample/field_rgn.tif" | tee "$run/upload.txt"
canopy upload --batch "$batch" "$run/sample/field_rgb.jpg" | tee -a "$run/upload.txt"
data=${CANOPY_SHARED_DATA:-$root/../shared/data}
if [ -d "$data" ]; then
  canopy upload --batch "$batch" \
    "$data/odm-tests-dji/DJI_0061.JPG" \
    "$data/dji-mini3pro-plaso/testimage.jpg" \
    "$data"/micasense-rededge/0000SET/000/IMG_0001_*.tif \
    "$data"/parrot-sequoia/0077/IMG_180413_080658_0000_{GRE,RED,REG,NIR}.TIF \
    "$data/webodm-fixtures/orthophoto.tif" | tee -a "$run/upload.txt" || echo "warning: some uploads were refused (see above)" >&2
else
  echo "note: $data not found; using the synthetic images only" >&2
fi
mapfile -t ids < <(sed -n 's/^uploaded \([0-9a-f-]*\) .*/\1/p' "$run/upload.txt")

echo "==> watching ${#ids[@]} images" >&2
canopy watch "${ids[@]}" || true
echo
canopy results --batch "$batch"
echo
canopy stats
echo "colour maps are in $run/blobs/images/*/map-*.png" >&2
