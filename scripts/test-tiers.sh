#!/usr/bin/env bash
# test-tiers: every test tier, as `make test` runs them. Tiers that share the example's Compose stack
# run one after another (e2e, e2e-v1, browser); the Kubernetes tier has a stack of its own and runs
# beside them, its lines prefixed with [k8s]. Each tier's time is printed, and a line at the end
# names the tiers that failed. Exit 1 when any did.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
start=$(date +%s)
results=$(mktemp -d)

# One tier through make; its status and seconds go to $results/<tier>.
tier() {
  local name=$1 t0 status
  t0=$(date +%s)
  echo "==> make $name"
  $MAKE --no-print-directory "$name"
  status=$?
  echo "$status $(( $(date +%s) - t0 ))" >"$results/$name"
  [ "$status" = 0 ] || echo "!!! tier $name FAILED"
  return 0
}

tier typecheck
tier unit
# The cluster's example needs images that Compose builds: made before the two branches start.
tier k8s-example
( tier e2e-k8s-tier 2>&1 | sed -u 's/^/[k8s] /' ) &
k8s=$!
tier e2e
tier e2e-v1
tier browser
wait "$k8s"

failed=""
echo "==> tiers (seconds):"
for name in typecheck unit k8s-example e2e e2e-v1 browser e2e-k8s-tier; do
  read -r status seconds <"$results/$name" 2>/dev/null || { status=missing; seconds=0; }
  printf '    %-12s %5s s  %s\n' "$name" "$seconds" "$([ "$status" = 0 ] && echo ok || echo "FAILED ($status)")"
  [ "$status" = 0 ] || failed="$failed $name"
done
rm -rf "$results"
echo "==> make test took $(( $(date +%s) - start )) s"
if [ -n "$failed" ]; then echo "!!! failed tiers:$failed (JUnit files in reports/)"; exit 1; fi
echo "==> every tier passed (JUnit files in reports/)"
