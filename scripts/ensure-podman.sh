#!/usr/bin/env bash
# Makes podman usable for the project: installs it (Debian, as root) when missing, writes the
# containers.conf these machines need, and builds the sandbox image from a busybox built
# against musl (build-sandbox-busybox.sh) without any registry. Idempotent. Prints the path of the containers.conf to export as
# CONTAINERS_CONF.
set -euo pipefail
CACHE="${AGENT_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-machine}"
IMAGE="${AGENT_MACHINE_SANDBOX_IMAGE:-localhost/agent-sandbox:dev}"
CONF="$CACHE/podman/containers.conf"
log() { echo "ensure-podman: $*" >&2; }

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${need[*]} and friends with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq podman runc crun fuse-overlayfs slirp4netns uidmap catatonit >&2
  else
    log "missing: ${need[*]}. Install podman and runc (or point DOCKER_HOST at a Docker engine)."
    exit 1
  fi
fi

# crun cannot run on this hybrid cgroup layout and the sandbox lacks CAP_SYS_RESOURCE for the
# default RLIMIT_NOFILE: runc, cgroupfs and explicit ulimits are what works here.
mkdir -p "$(dirname "$CONF")"
cat > "$CONF.tmp" <<CONFEOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONFEOF
mv "$CONF.tmp" "$CONF"
export CONTAINERS_CONF="$CONF"

# Bump when the recipe below changes, so machines that built an older image rebuild it.
RECIPE=5
have=$(podman image inspect --format '{{index .Labels "agentmachine.sourceos.dev/sandbox-recipe"}}' "$IMAGE" 2>/dev/null || true)
# Older recipes are rebuilt; a newer one (built by a newer checkout on the same machine) is kept,
# so two checkouts do not rebuild the shared tag back and forth.
if ! [[ "$have" =~ ^[0-9]+$ ]] || ((have < RECIPE)); then
  bb=$("$(dirname "$0")/build-sandbox-busybox.sh")
  log "building $IMAGE from $bb"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/workspace" "$root/etc"
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  for t in $("$bb" --list); do
    [[ "$t" == busybox ]] || ln -s busybox "$root/bin/$t"
  done
  # Name lookups read these (/etc/hosts and resolv.conf are replaced by the engine when it
  # gives the container a network); without them "localhost" would not resolve.
  printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
  printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:65532:65532:agent:/workspace:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\nagent:x:65532:\n' > "$root/etc/group"
  tar -C "$root" -c . | podman import --change 'ENV PATH=/bin' --change 'USER 65532' \
    --change "LABEL agentmachine.sourceos.dev/sandbox-recipe=$RECIPE" - "$IMAGE" >&2
  rm -rf "$root"
fi
echo "$CONF"
