# reset-and-test: put the docker-compose development stack back into a clean state and run its smoke test.
# `make` lists the targets. Options: ARGS="..." passes flags to a script, YES=1 adds --yes.

SHELL := /bin/bash
NODE_RUN := node --import tsx
YES_FLAG := $(if $(filter 1 true yes,$(YES)),--yes,)
E2E ?= 1
PHASES := assess truncate-logs restart truncate-db flush-redis run-test validate

.DEFAULT_GOAL := help
.PHONY: help install engine reset-and-test docker-test $(PHASES) test unit e2e typecheck bench restore \
        rollback-code rollback-db reset-circuit check

help: ## list the targets
	@echo "usage: make TARGET [ARGS='--flag ...'] [YES=1]"
	@grep -hE '^[a-z0-9-]+( [a-z0-9-]+)*:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo "  phases: $(PHASES)  (make PHASE runs ./scripts/PHASE.mts)"
	@echo "  make restart SERVICES=api,worker restarts only those services and waits until they are ready"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.installed ## install the node packages

engine: ## make sure a Docker engine, Compose and the base image are here (installs them on Debian as root)
	@bash scripts/ensure-docker.sh

reset-and-test: node_modules/.installed engine ## reset the stack and run the smoke test (all seven phases)
	$(NODE_RUN) scripts/reset_and_run.mts $(YES_FLAG) $(ARGS)

$(PHASES): node_modules/.installed
	$(NODE_RUN) scripts/$@.mts $(YES_FLAG) $(if $(SERVICES),--services $(SERVICES)) $(ARGS)

docker-test: node_modules/.installed ## the app's own pytest run inside the api container
	$(NODE_RUN) scripts/docker-test.mts $(ARGS)

typecheck: node_modules/.installed ## type-check everything (nothing is built)
	npx --no-install tsc -p .

unit: node_modules/.installed ## unit tests: no Docker, seconds
	npx --no-install uvu test/unit '\.test\.ts$$' -r tsx

e2e: node_modules/.installed engine ## end-to-end tests against the real example stack
	npx --no-install uvu test/e2e '\.test\.ts$$' -r tsx -b

test: typecheck unit ## every test tier: typecheck, unit, end-to-end (E2E=0 skips the last, loudly)
ifeq ($(E2E),0)
	@echo "!!! E2E=0: the end-to-end tier against real Docker was SKIPPED; this is not a full test run !!!"
else
	$(MAKE) --no-print-directory e2e
endif

bench: node_modules/.installed engine ## benchmark the reset against the floor and the old way
	$(NODE_RUN) bench/reset.mts $(ARGS)

restore: node_modules/.installed ## put back what --backup saved (ARGS="--dir backups/<dir>")
	$(NODE_RUN) scripts/restore.mts $(YES_FLAG) $(ARGS)

# ---- recovery: the rollback procedures and checks of the circuit-breaker plan ----

rollback-code: node_modules/.installed ## show the recent commits; ARGS="--backup NAME" | "--revert COMMIT" | "--from-backup NAME"
	$(NODE_RUN) scripts/rollback-code.mts $(YES_FLAG) $(ARGS)

rollback-db: node_modules/.installed ## migrations in the api container: REV=... downgrades to it (confirmed); ARGS=history | upgrade
	$(NODE_RUN) scripts/rollback-db.mts $(YES_FLAG) $(ARGS) $(if $(REV),downgrade -- $(REV))

reset-circuit: node_modules/.installed ## delete the circuit-breaker keys (SCAN + UNLINK); ARGS=--all empties the app's Redis db
	$(NODE_RUN) scripts/reset-circuit.mts $(YES_FLAG) $(ARGS)

check: node_modules/.installed ## read-only checks: circuit breakers, then database consistency (exit 7 on a finding)
	@status=0; \
	$(NODE_RUN) scripts/check-circuit.mts $(ARGS) || status=$$?; \
	$(NODE_RUN) scripts/check-consistency.mts $(ARGS) || status=$$?; \
	exit $$status
