# Sourced by scripts/bench.sh and scripts/bench-compare.sh: start Canopy's
# services as real processes on free loopback ports against a scratch
# database. Needs $root, $run (a fresh directory) and canopy-bench on PATH.

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

wait_http() {
  for _ in $(seq 1 150); do
    curl -sf "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "service at $1 did not become healthy; see $run/logs" >&2
  exit 1
}

# start_ours DB: ingest-svc and status-svc; sets base_url, ingest_pid,
# status_pid and the *_ADDR variables. application_name lets the bench
# count each service's connections.
start_ours() {
  local db=$1
  mkdir -p "$run/logs"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null
  base_url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  export BLOB_STORE=local BLOB_DIR="$run/blobs" WORK_DIR="$run" LOG_FORMAT=text LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
  # The bench both uploads and works the queue, which no single key's role
  # may do; the dev mode lets one caller do both. Keys would add a cached
  # lookup per call, which these figures leave out.
  export AUTH_MODE=insecure-dev
  local ports
  mapfile -t ports < <(canopy-bench freeport 5)
  export INGEST_GRPC_ADDR=127.0.0.1:${ports[0]} INGEST_HTTP_ADDR=127.0.0.1:${ports[1]}
  export STATUS_GRPC_ADDR=127.0.0.1:${ports[2]} STATUS_HTTP_ADDR=127.0.0.1:${ports[3]}
  export ANALYSIS_GRPC_ADDR=127.0.0.1:${ports[4]} INGEST_ADDR=127.0.0.1:${ports[0]}
  DATABASE_URL="$base_url&application_name=canopy-ingest" ingest-svc >"$run/logs/ingest.log" 2>&1 &
  ingest_pid=$!; pids+=("$ingest_pid")
  wait_http "$INGEST_HTTP_ADDR"
  DATABASE_URL="$base_url&application_name=canopy-status" status-svc >"$run/logs/status.log" 2>&1 &
  status_pid=$!; pids+=("$status_pid")
  wait_http "$STATUS_HTTP_ADDR"
}

# start_polling_ingest: a second ingest-svc on the same database without
# LISTEN, as behind a transaction pooler: its waiting claims poll every
# CLAIM_POLL_INTERVAL (1s). Sets POLL_INGEST_GRPC_ADDR.
start_polling_ingest() {
  local ports
  mapfile -t ports < <(canopy-bench freeport 2)
  POLL_INGEST_GRPC_ADDR=127.0.0.1:${ports[0]}
  INGEST_GRPC_ADDR=$POLL_INGEST_GRPC_ADDR INGEST_HTTP_ADDR=127.0.0.1:${ports[1]} MIGRATE_ON_START=false \
    DATABASE_LISTEN=false CLAIM_POLL_INTERVAL=1s \
    DATABASE_URL="$base_url&application_name=canopy-ingest-poll" ingest-svc >"$run/logs/ingest-poll.log" 2>&1 &
  poll_ingest_pid=$!; pids+=("$poll_ingest_pid")
  wait_http "127.0.0.1:${ports[1]}"
}

# start_analysis: analysis-svc with a worker per core (WORKERS default).
start_analysis() {
  ANALYSIS_HTTP_ADDR= DATABASE_URL="$base_url&application_name=canopy-analysis" analysis-svc >"$run/logs/analysis.log" 2>&1 &
  pids+=($!)
  sleep 1 # its workers connect and wait in ClaimWork
}

build_all() {
  echo "==> building services and canopy-bench" >&2
  mkdir -p "$root/.bin" "$root/bench/results"
  (cd "$root" && go build -o .bin/ ./ingest-svc/cmd/ingest-svc ./status-svc/cmd/status-svc ./analysis-svc/cmd/analysis-svc)
  (cd "$root/bench" && go build -o ../.bin/ ./cmd/canopy-bench)
}

# ensure_old_design_python: the Python packages of ../shared/baseline (its
# test images need numpy and PIL, its services flask and psycopg2), from
# Debian's packages when they are missing and we are root.
ensure_old_design_python() {
  local pkgs="python3-flask python3-psycopg2 python3-numpy python3-pil"
  /usr/bin/python3 -c 'import flask, psycopg2, numpy, PIL' 2>/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing the older design's Python packages from Debian: $pkgs" >&2
    # shellcheck disable=SC2086 # the list is words
    apt-get install -y -q $pkgs >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; }
  else
    echo "the older design needs: apt-get install -y $pkgs" >&2
    exit 1
  fi
}
