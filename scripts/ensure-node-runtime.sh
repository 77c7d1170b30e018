#!/usr/bin/env bash
# Makes a local Kubernetes node possible (src/dev/local-node.ts): Debian's containerd, runc and
# CNI plugins (installed with apt-get as root when missing), the kubelet, kube-scheduler and
# kube-controller-manager built beside kube-apiserver (control-plane-binaries.sh --node), and a
# "pause" image built from the sandbox image, since no registry can serve registry.k8s.io/pause.
# Idempotent. Prints three lines: the binaries' folder, the CNI plugins' folder, the pause image.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PAUSE_IMAGE="${AGENT_MACHINE_PAUSE_IMAGE:-localhost/agent-pause:dev}"
CNI_DIR=/usr/lib/cni
log() { echo "ensure-node-runtime: $*" >&2; }

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x "$CNI_DIR/bridge" && -x "$CNI_DIR/host-local" ]] || need+=(containernetworking-plugins)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }
    # The package starts a system containerd on /run/containerd; the node runs its own.
    if command -v systemctl >/dev/null; then systemctl disable --now containerd >/dev/null 2>&1 || true; fi
  else
    log "missing: ${need[*]}. Install Debian's containerd, runc and containernetworking-plugins."
    exit 1
  fi
fi

BIN_DIR=$(bash "$HERE/control-plane-binaries.sh" --node)
CONTAINERS_CONF=$(bash "$HERE/ensure-podman.sh")
export CONTAINERS_CONF

# The Pod sandbox only has to hold the Pod's namespaces open: the sandbox image's sleep, forever.
# Bump RECIPE when this changes; built again when the sandbox image is newer than it.
RECIPE=1
SANDBOX_IMAGE="${AGENT_MACHINE_SANDBOX_IMAGE:-localhost/agent-sandbox:dev}"
sandbox_id=$(podman image inspect --format '{{.Id}}' "$SANDBOX_IMAGE")
have=$(podman image inspect --format '{{index .Labels "agentmachine.sourceos.dev/pause-recipe"}}' "$PAUSE_IMAGE" 2>/dev/null || true)
if [[ "$have" != "$RECIPE-$sandbox_id" ]]; then
  log "building $PAUSE_IMAGE from $SANDBOX_IMAGE"
  ctx=$(mktemp -d)
  printf 'FROM %s\nLABEL agentmachine.sourceos.dev/pause-recipe=%s\nENTRYPOINT ["/bin/sleep","2147483647"]\n' "$SANDBOX_IMAGE" "$RECIPE-$sandbox_id" > "$ctx/Containerfile"
  podman build -q --pull=never -t "$PAUSE_IMAGE" "$ctx" >&2
  rm -rf "$ctx"
fi
echo "$BIN_DIR"
echo "$CNI_DIR"
echo "$PAUSE_IMAGE"
