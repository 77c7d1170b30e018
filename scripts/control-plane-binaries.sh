#!/usr/bin/env bash
# Prints the folder holding kube-apiserver and etcd for the test control plane,
# building them from Go modules (through the Go module proxy) when no one provided them.
# With --node it also builds the kubelet, kube-scheduler and kube-controller-manager into the
# same folder (the local node, scripts/ensure-node-runtime.sh, src/dev/local-node.ts).
#
# Honours the envtest names, so users with downloaded assets skip the build:
#   KUBEBUILDER_ASSETS            folder with kube-apiserver and etcd
#   TEST_ASSET_KUBE_APISERVER     path of kube-apiserver
#   TEST_ASSET_ETCD               path of etcd
# Builds are cached outside the clone, keyed by version, so CI and later runs reuse them.
set -euo pipefail

K8S_VERSION="${AGENT_MACHINE_K8S_VERSION:-v1.33.13}"
ETCD_VERSION="${AGENT_MACHINE_ETCD_VERSION:-v3.5.21}"
CACHE="${AGENT_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-machine}"
OUT="$CACHE/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

log() { echo "control-plane: $*" >&2; }

NODE=0; [[ "${1:-}" == --node ]] && NODE=1
# envtest assets hold no kubelet: with --node they are used only when the folder has the node's too.
if ((!NODE)) && [[ -n "${TEST_ASSET_KUBE_APISERVER:-}" && -n "${TEST_ASSET_ETCD:-}" ]]; then
  mkdir -p "$OUT/provided"
  ln -sf "$TEST_ASSET_KUBE_APISERVER" "$OUT/provided/kube-apiserver"
  ln -sf "$TEST_ASSET_ETCD" "$OUT/provided/etcd"
  echo "$OUT/provided"; exit 0
fi
if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]] \
  && { ((!NODE)) || [[ -x "$KUBEBUILDER_ASSETS/kubelet" ]]; }; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

command -v go >/dev/null || { log "Go is needed to build kube-apiserver and etcd (or set KUBEBUILDER_ASSETS)"; exit 1; }
mkdir -p "$OUT"
# Two runs on one machine (parallel checkouts, CI beside a developer) must not build into the
# same .tmp files at once: the second waits for the first, then finds the binaries built.
exec 9>"$OUT/.build.lock"
flock 9
export GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0

build_etcd() {
  [[ -x "$OUT/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION (first run only, cached in $OUT)"
  local w; w=$(mktemp -d)
  local v="$ETCD_VERSION"
  # Each sibling module etcd replaces with a ../path, pinned at the version its go.mod requires.
  local gomod; gomod=$(cd "$w" && go mod download -json "go.etcd.io/etcd/server/v3@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module agentmachine.local/etcdbuild"
    echo "go 1.24"
    echo "require go.etcd.io/etcd/server/v3 $v"
    echo "replace ("
    for m in $(grep -E '=> \.\./' "$gomod" | awk '{print $1}'); do
      echo "	$m => $m $(awk -v m="$m" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$gomod")"
    done
    echo ")"
  } > "$w/go.mod"
  echo 'package main' > "$w/tools.go"; echo 'import _ "go.etcd.io/etcd/server/v3"' >> "$w/tools.go"
  sed -i '1i //go:build tools' "$w/tools.go"
  (cd "$w" && go mod tidy >&2 && go build -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$OUT/etcd.tmp" "$OUT/etcd"; rm -rf "$w"
}

# Builds the named commands of k8s.io/kubernetes (kube-apiserver, kubectl, and with --node the
# kubelet, kube-scheduler and kube-controller-manager) from one wrapper module, so every part of
# the local cluster is the same version.
build_kubernetes() {
  local cmds=("$@") need=() c
  for c in "${cmds[@]}"; do
    # kubectl only when the machine has none: tests and `make run` drive the API with it.
    if [[ "$c" == kubectl ]]; then command -v kubectl >/dev/null || [[ -x "$OUT/kubectl" ]] || need+=("$c"); continue; fi
    [[ -x "$OUT/$c" ]] || need+=("$c")
  done
  ((${#need[@]})) || return 0
  log "building ${need[*]} $K8S_VERSION (first run only, about a minute each, cached in $OUT)"
  local w; w=$(mktemp -d)
  local staging="v0.${K8S_VERSION#v1.}"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  # The staging modules k8s.io/kubernetes replaces with ./staging paths, read from its own go.mod.
  local gomod; gomod=$(cd "$w" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module agentmachine.local/apiserverbuild"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v s="$staging" '{print "\t" $1 " => " $1 " " s}'
    echo ")"
  } > "$w/go.mod"
  { printf '//go:build tools\npackage main\nimport (\n'; for c in "${need[@]}"; do printf '_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done; printf ')\n'; } > "$w/tools.go"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  (cd "$w" && go mod tidy >&2)
  for c in "${need[@]}"; do
    (cd "$w" && go build -ldflags "$ldflags" -o "$OUT/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2)
    mv "$OUT/$c.tmp" "$OUT/$c"
  done
  rm -rf "$w"
}

build_etcd
build_kubernetes kube-apiserver kubectl
if ((NODE)); then build_kubernetes kubelet kube-scheduler kube-controller-manager; fi
echo "$OUT"
