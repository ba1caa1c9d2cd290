# reset-and-test: put the docker-compose development stack back into a clean state and run its smoke test.
# `make` lists the targets. Options, on make's command line only (a variable exported in the shell
# for another tool never steers a run): ARGS="..." passes flags to a script, YES=1 adds --yes,
# SERVICES=a,b limits a restart, REV=... names a migration, TARGET=kubernetes picks the cluster.

SHELL := /bin/bash
# A young generation of 4 MB (Node's default grows it to 16 MB a half): a backup of a million rows
# streams through in 120 MB, not 160 (make bench --only backup), at no measurable cost in time.
NODE_RUN := node --max-semi-space-size=4 --import tsx
cli = $(if $(filter command line,$(origin $(1))),$($(1)))
YES_FLAG := $(if $(filter 1 true yes,$(call cli,YES)),--yes,)
ARGS_FLAGS := $(call cli,ARGS)
TARGET_KIND := $(call cli,TARGET)
REPORTS := reports
TIER = $(NODE_RUN) test/run.mts --require-harness

# The phases, in the order of lib/run/registry.ts, as the suite lists them (remade when the registry changes).
PHASES_MK := .state/make-phases.mk
-include $(PHASES_MK)
$(PHASES_MK): lib/run/registry.ts | node_modules/.installed
	@mkdir -p $(dir $@)
	@echo "PHASES := $$($(NODE_RUN) scripts/reset_and_run.mts --list-phases | tr '\n' ' ')" > $@

# TARGET=kubernetes: the suite's configuration says which cluster (without a KUBE_CONTEXT of your own, the
# bundled one, which k8s-ready brings up with the example first). Its kubectl is the fallback on PATH.
export PATH := $(PATH):/var/lib/reset-and-test-k8s/bin
K8S_EXAMPLE := $(if $(filter kubernetes,$(TARGET_KIND)),--target kubernetes)
K8S_PREP := $(if $(filter kubernetes,$(TARGET_KIND)),k8s-ready)

.DEFAULT_GOAL := help
E2E_PARTS := e2e-main e2e-beside e2e-last e2e-serial
.PHONY: help install engine chromium cluster cluster-down k8s-example k8s-ready reset-and-test docker-test $(PHASES) test unit \
        e2e $(E2E_PARTS) e2e-v1 e2e-k8s e2e-k8s-tier browser typecheck bench restore rollback-code rollback-db reset-circuit check versions

help: ## list the targets
	@echo "usage: make TARGET [ARGS='--flag ...'] [YES=1] [TARGET=kubernetes]"
	@grep -hE '^[a-z0-9-]+( [a-z0-9-]+)*:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo "  phases: $(PHASES)  (make PHASE runs ./scripts/PHASE.mts)"
	@echo "  make restart SERVICES=api,worker restarts only those services and waits until they are ready"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.installed ## install the node packages

engine: ## make sure a Docker engine, Compose v2 and v1 and the base image are here (installs them on Debian as root)
	@bash scripts/ensure-docker.sh

chromium: ## make sure Debian's chromium is here for the browser tier (installs it on Debian as root)
	@bash scripts/ensure-browser.sh

cluster: node_modules/.installed engine ## bring up the local Kubernetes cluster (built from Debian's source once per machine; cached after)
	@$(NODE_RUN) scripts/ensure-k8s.mts up

cluster-down: node_modules/.installed ## stop the local Kubernetes cluster and restore what its kubelet changed
	@$(NODE_RUN) scripts/ensure-k8s.mts down

k8s-example: node_modules/.installed cluster ## the example stack on the local cluster: images built and loaded, manifests applied
	@$(NODE_RUN) scripts/ensure-k8s.mts example

k8s-ready: node_modules/.installed engine ## TARGET=kubernetes: the bundled cluster and example, when the suite acts on them
	@$(NODE_RUN) scripts/ensure-k8s.mts for-target $(ARGS_FLAGS)

reset-and-test: node_modules/.installed engine $(K8S_PREP) ## reset the stack and run the smoke test (all seven phases)
	$(NODE_RUN) scripts/reset_and_run.mts $(YES_FLAG) $(K8S_EXAMPLE) $(ARGS_FLAGS)

$(PHASES): node_modules/.installed
	$(NODE_RUN) scripts/$@.mts $(YES_FLAG) $(K8S_EXAMPLE) $(if $(call cli,SERVICES),--services $(call cli,SERVICES)) $(ARGS_FLAGS)

docker-test: node_modules/.installed ## the app's own pytest run in a one-off api container
	$(NODE_RUN) scripts/docker-test.mts $(K8S_EXAMPLE) $(ARGS_FLAGS)

typecheck: node_modules/.installed ## type-check everything (nothing is built)
	npx --no-install tsc -p .

unit: node_modules/.installed ## unit tests: no Docker, seconds
	$(TIER) --tier unit --own-tmpdir --junit $(REPORTS)/junit-unit.xml test/unit

versions: engine
	@echo "==> Compose versions: v2 $$(docker compose version --short 2>/dev/null || echo missing), v1 $$(docker-compose version --short 2>/dev/null || echo missing)"

# Two stacks at once: scripts/test-tiers.sh runs the e2e tier's parts (test/e2e-tier.mts), its heaviest
# files in a copy of the suite beside the rest; e2e-serial runs every file in one run, on the example.
e2e: node_modules/.installed ## end-to-end tests on Compose v2 against the real example stack (and a copy of it beside)
	@MAKE="$(MAKE)" bash scripts/test-tiers.sh e2e

$(E2E_PARTS): node_modules/.installed
	RT_COMPOSE_CMD="docker compose" $(NODE_RUN) test/e2e-tier.mts $(@:e2e-%=%)

e2e-v1: node_modules/.installed versions ## the shorter end-to-end pass on Compose v1 (docker-compose)
	RT_COMPOSE_CMD="docker-compose" $(TIER) --tier e2e-v1 --bail --junit $(REPORTS)/junit-e2e-v1.xml test/e2e-v1

e2e-k8s: k8s-example e2e-k8s-tier ## end-to-end tests against the example on the local Kubernetes cluster

# The tier alone, the cluster's example already there: make test runs it beside the Compose tiers.
e2e-k8s-tier: node_modules/.installed
	$(TIER) --tier e2e-k8s --bail --junit $(REPORTS)/junit-e2e-k8s.xml test/e2e-k8s

# The browser tier loads the page of a real run (reset_and_run.mts on the example stack) in Chromium;
# BROWSER_FIXTURE=1 (make's command line) builds the pages from the fixture run instead: no Docker.
BROWSER_FIXTURE_FLAG := $(filter 1,$(call cli,BROWSER_FIXTURE))
browser: node_modules/.installed chromium $(if $(BROWSER_FIXTURE_FLAG),,engine) ## the run page and the history of runs in Chromium (BROWSER_FIXTURE=1: from the fixture run, no Docker)
	BROWSER_FIXTURE=$(BROWSER_FIXTURE_FLAG) $(TIER) --tier browser --bail --junit $(REPORTS)/junit-browser.xml test/browser

test: ## every test tier: typecheck, unit, e2e on Compose v2 and v1, the browser, and beside them Kubernetes (JUnit files in reports/)
	@MAKE="$(MAKE)" bash scripts/test-tiers.sh

bench: node_modules/.installed engine ## benchmark the reset against the floor and the old way, the restart against a bare compose restart
	$(NODE_RUN) bench/reset.mts $(ARGS_FLAGS)

restore: node_modules/.installed ## put back what --backup saved (ARGS="--dir backups/<dir>")
	$(NODE_RUN) scripts/restore.mts $(YES_FLAG) $(K8S_EXAMPLE) $(ARGS_FLAGS)

# ---- recovery: the rollback procedures and checks of the circuit-breaker plan ----

rollback-code: node_modules/.installed ## show the recent commits; ARGS="--backup NAME" | "--revert COMMIT" | "--from-backup NAME"
	$(NODE_RUN) scripts/rollback-code.mts $(YES_FLAG) $(ARGS_FLAGS)

rollback-db: node_modules/.installed ## migrations in the api container: REV=... downgrades to it (confirmed); ARGS=history | upgrade
	$(NODE_RUN) scripts/rollback-db.mts $(YES_FLAG) $(K8S_EXAMPLE) $(ARGS_FLAGS) $(if $(call cli,REV),downgrade -- $(call cli,REV))

reset-circuit: node_modules/.installed ## delete the circuit-breaker keys (SCAN + UNLINK); ARGS=--all empties the app's Redis db
	$(NODE_RUN) scripts/reset-circuit.mts $(YES_FLAG) $(K8S_EXAMPLE) $(ARGS_FLAGS)

check: node_modules/.installed ## read-only checks: circuit breakers, then database consistency (exit 7 on a finding)
	@status=0; \
	$(NODE_RUN) scripts/check-circuit.mts $(K8S_EXAMPLE) $(ARGS_FLAGS) || status=$$?; \
	$(NODE_RUN) scripts/check-consistency.mts $(K8S_EXAMPLE) $(ARGS_FLAGS) || status=$$?; \
	exit $$status
