#!/usr/bin/env bash
# Makes a real OCI registry available for agent outputs: Debian's docker-registry package (the
# CNCF distribution registry 2.8), installed with apt-get when running as root. Idempotent.
# Prints the path of the binary.
set -euo pipefail
log() { echo "ensure-registry: $*" >&2; }
BIN=/usr/bin/docker-registry
if [[ ! -x "$BIN" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing docker-registry with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # The package starts a system service listening on :5000; we run our own, on our own ports.
    apt-get install -y -qq --no-install-recommends docker-registry >&2 || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends docker-registry >&2; }
    if command -v systemctl >/dev/null; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
  else
    log "missing $BIN: install Debian's docker-registry package"
    exit 1
  fi
fi
echo "$BIN"
