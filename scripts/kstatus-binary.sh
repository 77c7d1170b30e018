#!/usr/bin/env bash
# Prints the path of kstatus-compute (test/kstatus/): the kstatus library Flux's health checks
# and kpt use, as a program the integration tests feed objects to. Built from Go modules
# (through the Go module proxy) once, cached outside the clone and keyed by the program's
# sources, so later runs (and other checkouts with the same sources) reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/test/kstatus"
CACHE="${AGENT_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-machine}"
KEY="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
OUT="$CACHE/kstatus/$KEY"

if [[ -x "$OUT/kstatus-compute" ]]; then echo "$OUT/kstatus-compute"; exit 0; fi
command -v go >/dev/null || { echo "kstatus: Go is needed to build test/kstatus (the kstatus library)" >&2; exit 1; }
mkdir -p "$OUT"
# Parallel checkouts must not build into the same .tmp at once: the second waits, then finds it.
exec 9>"$OUT/.build.lock"
flock 9
if [[ ! -x "$OUT/kstatus-compute" ]]; then
  echo "kstatus: building test/kstatus (first run only, cached in $OUT)" >&2
  (cd "$SRC" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" go build -o "$OUT/kstatus-compute.tmp" . >&2)
  mv "$OUT/kstatus-compute.tmp" "$OUT/kstatus-compute"
fi
echo "$OUT/kstatus-compute"
