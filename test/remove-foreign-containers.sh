#!/usr/bin/env bash
# remove-foreign-containers PROJECT DIR: containers of a Compose project that belongs to a test run
# (the example's in CI, the e2e tier's copy beside it) but were made from another directory (an
# earlier clone on this machine) would make the suite refuse, rightly, to touch them. Here they are
# the test run's own leftovers, so they go; their volumes stay.
set -euo pipefail
project=$1 dir=$2
for id in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
  made_in=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.project.working_dir"}}' "$id")
  if [ "$made_in" != "$dir" ]; then
    echo "==> removing $(docker inspect -f '{{.Name}}' "$id" | tr -d /) (project $project, left by ${made_in:-an unknown checkout})"
    docker rm -f "$id" >/dev/null
  fi
done
