# agent-machine — every target installs what it needs (idempotently) before it runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE      ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/agent-machine
NODE_BIN   := $(shell bash scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)
NODE       := $(NODE_BIN)/node

.PHONY: help deps control-plane podman crds check-generated typecheck test test-unit test-integration run bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: node_modules/.installed ## install npm dependencies (and Node >= 22 when the machine's is older)

control-plane: ## build or locate kube-apiserver + etcd (cached in ~/.cache/agent-machine)
	@bash scripts/control-plane-binaries.sh >/dev/null

podman: ## install podman (as root with apt) and build the sandbox image
	@bash scripts/ensure-podman.sh >/dev/null
