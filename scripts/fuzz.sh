#!/usr/bin/env bash
# Runs every Go fuzz target in the repository briefly, seeded from its
# corpus (real drone files from ../shared/data where the target uses them).
# Targets are found, not listed: any `func FuzzXxx(f *testing.F)` in a
# _test.go file of a go.work module is run, one after the other (go test
# -fuzz takes one target of one package at a time).
#
#   scripts/fuzz.sh               # each target for FUZZTIME (default 10s)
#   FUZZTIME=2m scripts/fuzz.sh   # longer, by hand
#
# A failure leaves the crashing input under the package's
# testdata/fuzz/FuzzXxx/; commit it so it stays a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"

# fuzz_one DIR TARGET: one run of the target. Go 1.26's fuzzing
# coordinator can end a duration-bound run with a bare "context deadline
# exceeded" at the deadline, under CPU load, having found nothing
# (go.dev/issue/75804, fixed in Go 1.27); a real crash writes its input
# under testdata/fuzz/ and says so, and a hang says the process hung. Such
# a run is tried again once, and if that ends the same way it counts as
# run, with a warning: the target was fuzzed for its time and nothing was
# found.
fuzz_one() {
  local out status=1
  out=$(mktemp)
  for attempt in 1 2; do
    if go test -run='^$' -fuzz="^$2\$" -fuzztime="$fuzztime" "./$1" 2>&1 | tee "$out"; then
      status=0
      break
    fi
    if grep -q "Failing input written to" "$out" || ! grep -q "context deadline exceeded" "$out"; then
      break
    fi
    if [ "$attempt" = 1 ]; then
      echo "fuzz: $2 stopped at its deadline with no failing input (go.dev/issue/75804); running it again" >&2
    else
      echo "fuzz: warning: $2 stopped at its deadline again with no failing input; counted as run" >&2
      status=0
    fi
  done
  rm -f "$out"
  return "$status"
}

mods=$(go list -m -f '{{.Dir}}')
failed=0
ran=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$file"); do
    echo "== $dir $target ($fuzztime)"
    ran=$((ran + 1))
    if ! fuzz_one "$dir" "$target"; then
      echo "FAIL: $dir $target" >&2
      failed=$((failed + 1))
    fi
  done
done < <(for m in $mods; do
  rel=${m#"$PWD"/}
  git ls-files --cached --others --exclude-standard -- "$rel" | grep '_test\.go$' || true
done | sort -u | xargs grep -l '^func Fuzz' || true)

echo "fuzz: $ran target(s) run, $failed failed"
[ "$ran" -gt 0 ] || { echo "fuzz: no targets found" >&2; exit 1; }
[ "$failed" -eq 0 ]
