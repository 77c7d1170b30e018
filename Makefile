# agent-machine. Two commands do everything on a fresh machine:
#   make run    the controller on an embedded local control plane + podman (or your cluster)
#   make test   unit + integration tests against a real kube-apiserver + etcd and real podman
# Every target installs what it needs first, idempotently; slow artefacts are cached in
# ~/.cache/agent-machine, keyed by version.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_BIN := $(shell bash scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

TEST_FILES ?=

.PHONY: help deps control-plane node podman registry crds docs typecheck kstatus lint test test-unit test-integration run bench bench-node bench-containers bench-gateway bench-scale bench-cel bench-revocation bench-connector-revocation bench-outputs bench-audit image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: node_modules/.installed ## install npm dependencies (and Node >= 22 when the machine's is older)

control-plane: ## build or locate kube-apiserver + etcd (first build takes minutes; cached)
	@bash scripts/control-plane-binaries.sh >/dev/null

node: ## install containerd, runc and CNI plugins (apt), build kubelet, kube-scheduler, kube-controller-manager (cached) and the pause image: what a real local node needs
	@bash scripts/ensure-node-runtime.sh >/dev/null

kstatus: ## build test/kstatus, the kstatus library (Flux, kpt) as a program the integration tests use (cached)
	@bash scripts/kstatus-binary.sh >/dev/null

podman: ## install podman (as root, with apt) and build the local sandbox image
	@bash scripts/ensure-podman.sh >/dev/null

registry: ## install Debian's docker-registry (the CNCF distribution registry) for agent outputs
	@bash scripts/ensure-registry.sh >/dev/null

crds: deps ## regenerate crds/ and src/api/types.generated.ts from contracts/ (and the docs derived from them)
	node scripts/generate.ts
	node scripts/generate-docs.ts

docs: deps ## regenerate docs/reference/ and the generated tables in docs/profiles.md
	node scripts/generate-docs.ts

typecheck: deps ## TypeScript strict type check
	npx tsc -p tsconfig.json

lint: deps ## Biome: lint and formatting check (biome.jsonc); `npx biome check --write` fixes what it safely can
	npx biome check

test-unit: deps ## unit tests (pure logic, contracts, generated files up to date)
	node --test --test-reporter=spec $(or $(TEST_FILES),'test/unit/**/*.test.ts')

test-integration: deps control-plane node podman registry kstatus ## integration tests on a real kube-apiserver + etcd and real podman
	node test/run-integration.ts $(TEST_FILES)

test: typecheck test-unit test-integration ## everything CI runs

bench-containers: deps control-plane podman ## benchmark: controller overhead per container vs podman run, and burst throughput
	node test/run-integration.ts --bench test/bench/containers.bench.ts

bench-node: deps control-plane node podman ## benchmark: Pod create→Running and →Succeeded through the kubernetes runtime vs a bare Pod, on a real node
	node test/run-integration.ts --bench test/bench/node.bench.ts

bench-gateway: deps control-plane podman ## benchmark: gateway added latency (p50/p99) and throughput vs direct calls to the same upstream
	node test/run-integration.ts --bench test/bench/gateway.bench.ts

bench-scale: deps control-plane podman ## benchmark: 1,000 executions (admission latency, throughput vs the apiserver's raw write rate, RSS) and RSS with 10,000 cached objects
	node test/run-integration.ts --bench test/bench/scale.bench.ts

bench-revocation: deps control-plane podman ## benchmark: revoke write → first refused gateway call (p50/p99 over ≥ 20 revocations) vs the write seen by a watch
	node test/run-integration.ts --bench test/bench/revocation.bench.ts

bench-connector-revocation: deps control-plane podman ## benchmark: revoke write → refused connector call and → closed MCP SSE stream (p50/p99 over ≥ 20 revocations) vs the write seen by a watch
	node test/run-integration.ts --bench test/bench/connector-revocation.bench.ts

bench-outputs: deps control-plane podman registry ## benchmark: collecting + pushing outputs (1 MB, 100 MB, 1,000 small files) vs podman cp + a plain registry push of the same bytes
	node test/run-integration.ts --bench test/bench/outputs.bench.ts

bench-audit: deps control-plane ## benchmark: cluster audit store vs file store (records/s, append→ack p50/p99, etcd bytes per record and per 10,000, after retention)
	node test/run-integration.ts --bench test/bench/audit.bench.ts

bench-cel: deps ## benchmark: the CEL cost model against time (ms per million units, per kind of rule); no cluster needed
	node test/bench/cel-cost.bench.ts

bench: bench-containers bench-node bench-gateway bench-scale bench-cel bench-revocation bench-connector-revocation bench-outputs bench-audit ## every benchmark (prints figures; asserts nothing)

run: deps control-plane podman registry ## run the controller on a local control plane + podman (or KUBECONFIG's cluster); flags: make run ARGS='--metrics-bind-address 127.0.0.1:0 --data-dir DIR'; ARGS='--runtime kubernetes' also starts a local node (Pods)
	node bin/agent-machine.js dev $(ARGS)

image: ## build the controller image localhost/agent-machine:dev (Containerfile, FROM scratch: no registry); says so when it skips
	@bash scripts/build-image.sh >/dev/null

