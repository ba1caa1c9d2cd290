#!/usr/bin/env bash
# test-tiers: every test tier, as `make test` runs them (`test-tiers.sh e2e`: the e2e tier alone, as
# `make e2e` runs it). Tiers with a stack of their own run beside each other, their lines prefixed:
#   - the Kubernetes tier ([k8s]), on the cluster;
#   - the e2e tier's heaviest files ([beside]), in a copy of the suite whose example has a project
#     name, ports and images of its own (test/e2e-tier.mts beside);
#   - on the example, one after another: the rest of the e2e tier, e2e-v1 and the browser.
# Then the engine restart and the bystander's final check (e2e-last), alone. Each tier's time is
# printed, and a line at the end names the tiers that failed. Exit 1 when any did.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
what=${1:-all}
case "$what" in all | e2e) ;; *) echo "usage: $0 [all|e2e]" >&2; exit 9 ;; esac
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
# A tier beside the others, its lines prefixed with [prefix].
beside() { ( tier "$1" 2>&1 | sed -u "s/^/[$2] /" ) & }

if [ "$what" = all ]; then
  tier typecheck
  tier unit
  # The cluster's example needs images that Compose builds: made before the branches start.
  tier k8s-example
  beside e2e-k8s-tier k8s
  k8s=$!
  tiers="typecheck unit k8s-example e2e-main e2e-beside e2e-v1 browser e2e-last e2e-k8s-tier"
else
  tiers="e2e-main e2e-beside e2e-last"
fi
# The engine once, before two makes would each check it at the same time.
$MAKE --no-print-directory versions || { echo "!!! no Docker engine: nothing run"; exit 1; }
beside e2e-beside beside
copy=$!
tier e2e-main
if [ "$what" = all ]; then
  tier e2e-v1
  tier browser
fi
wait "$copy"
tier e2e-last
[ "$what" = all ] && wait "$k8s"

failed=""
echo "==> tiers (seconds):"
for name in $tiers; do
  read -r status seconds <"$results/$name" 2>/dev/null || { status=missing; seconds=0; }
  printf '    %-12s %5s s  %s\n' "$name" "$seconds" "$([ "$status" = 0 ] && echo ok || echo "FAILED ($status)")"
  [ "$status" = 0 ] || failed="$failed $name"
done
rm -rf "$results"
echo "==> make $([ "$what" = all ] && echo test || echo e2e) took $(( $(date +%s) - start )) s"
if [ -n "$failed" ]; then echo "!!! failed tiers:$failed (JUnit files in reports/)"; exit 1; fi
echo "==> every tier passed (JUnit files in reports/)"
