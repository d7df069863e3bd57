#!/usr/bin/env bash
# make bench / make bench-check: start ingest-svc and status-svc (real
# processes, local blob store, a scratch database) on free loopback ports,
# drive them with bench/cmd/canopy-bench, then add analysis-svc for the
# end-to-end runs, and finish with the analysis kernels from go test -bench.
#
#   scripts/bench.sh          full run  -> bench/results/latest.json + latest.md
#   scripts/bench.sh quick    CI sizes  -> bench/results/check.json, then the
#                             check against bench/baseline.json (ratios only)
#   scripts/bench.sh e2e      only upload -> completed of the older design's
#                             3 MP images -> bench/results/e2e.json (about a
#                             minute; for trying a change to the analysis)
#
# Every benchmark loop is bounded in count and time; all traffic stays on
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-full}
export PATH="$root/.bin:$PATH"
t_start=$SECONDS

case $mode in
  full) out=bench/results/latest.json ;;
  quick) out=bench/results/check.json ;;
  e2e) out=bench/results/e2e.json ;;
  *) echo "usage: $0 [full|quick|e2e]" >&2; exit 2 ;;
esac

source scripts/bench-lib.sh
build_all
# 10,000 watchers need file descriptors on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
run=$root/.run/bench-$mode
rm -rf "$run" && mkdir -p "$run"
trap cleanup EXIT
start_ours "canopy_bench_$mode"

bench=(canopy-bench run -out "$out" -disk-dir "$run/disk" -ingest "$INGEST_GRPC_ADDR" -status "$STATUS_GRPC_ADDR" -db "$base_url"
  -ingest-pid "$ingest_pid" -status-pid "$status_pid" -status-app canopy-status)
rm -f "$out"

if [ "$mode" = quick ]; then
  # The short run: the figures bench/baseline.json holds, each a ratio of
  # two loops in this same run.
  "${bench[@]}" -quick -scenarios upload,pickup,queue,notify,fanout -watchers 100,1000 >/dev/null
  cleanup # the kernels run with the services stopped
  echo "==> kernels (short)" >&2
  # Three separate go test runs, so the kernels and the memory loop
  # alternate in time; each figure is the median of three.
  for _ in 1 2 3; do
    (cd analysis-svc && go test -run '^$' -bench 'MemoryBandwidth|AnalyzeMicaSense|Compute/(NDVI|MSAVI2)$' \
      -benchtime 3x ./internal/analyze ./internal/index &&
      go test -run '^$' -bench 'FFT2/1024x512' -benchtime 10x ./internal/align)
  done >"$run/kernels.txt"
  canopy-bench kernels -out "$out" "$run/kernels.txt"
  canopy-bench table -out "$out"
  echo "==> comparing with bench/baseline.json" >&2
  canopy-bench check -out "$out" -baseline bench/baseline.json
  echo "bench-check took $((SECONDS - t_start)) s" >&2
  exit 0
fi

if [ "$mode" = e2e ]; then
  start_analysis
  ensure_old_design_python
  /usr/bin/python3 ../shared/baseline/make_test_images.py "$run/images" >/dev/null
  "${bench[@]}" -scenarios e2e -e2e-section e2e -e2e-files "$run/images/field_a.png@NRG,$run/images/field_b.jpg@NRG" \
    -e2e-idle "${E2E_IDLE:-5}" -e2e-n 16 -e2e-c 8 >/dev/null
  canopy-bench table -out "$out"
  exit 0
fi

# Full run. No worker is running yet: the queue and pickup scenarios need
# the queue to themselves.
"${bench[@]}" -scenarios upload,pickup,queue,notify,fanout -queue-jobs 1000 -watchers 1000,10000 >/dev/null

echo "==> pickup without LISTEN (a second ingest-svc, claims polling)" >&2
start_polling_ingest
"${bench[@]}" -ingest "$POLL_INGEST_GRPC_ADDR" -scenarios pickup_poll -pickup-n 40 >/dev/null
kill -TERM "$poll_ingest_pid"; wait "$poll_ingest_pid" 2>/dev/null || true

echo "==> starting analysis-svc for the end-to-end runs" >&2
start_analysis
imgs=$run/images
ensure_old_design_python
/usr/bin/python3 ../shared/baseline/make_test_images.py "$imgs" >/dev/null
# The older design's test images (2000x1500 = 3 MP, NIR-R-G), as its
# bench uses them.
"${bench[@]}" -scenarios e2e -e2e-section e2e -e2e-files "$imgs/field_a.png@NRG,$imgs/field_b.jpg@NRG" \
  -e2e-idle 3 -e2e-n 16 -e2e-c 8 >/dev/null
data=$root/../shared/data
if [ -d "$data" ]; then
  mica=$(printf '%s+' "$data"/micasense-rededge/0000SET/000/IMG_0001_{1,2,3,4,5}.tif); mica=${mica%+}
  seq=$(printf '%s+' "$data"/parrot-sequoia/0077/IMG_180413_080658_0000_{GRE,RED,REG,NIR}.TIF); seq=${seq%+}
  "${bench[@]}" -scenarios e2e -e2e-section e2e_real \
    -e2e-files "$data/odm-tests-dji/DJI_0061.JPG,$data/dji-mini3pro-plaso/testimage.jpg,$mica,$seq" \
    -e2e-idle 3 -e2e-n 20 -e2e-c 4 >/dev/null
fi
cleanup

echo "==> analysis kernels (go test -bench, services stopped)" >&2
for _ in 1 2 3; do # alternating in time, medians of three
  (cd analysis-svc && go test -run '^$' -bench . -benchtime 2x ./internal/analyze ./internal/index &&
    go test -run '^$' -bench 'FFT2/1024x512' -benchtime 10x ./internal/align)
done >"$run/kernels.txt"
canopy-bench kernels -out "$out" "$run/kernels.txt"
canopy-bench table -out "$out" | tee bench/results/latest.md
echo "make bench took $((SECONDS - t_start)) s; results in $out and bench/results/latest.md" >&2
