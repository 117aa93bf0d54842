#!/usr/bin/env bash
# Fetches the Adaptive Cards JSON schema that the notification tests validate Teams payloads
# with: Microsoft ships it in the npm package of its card designer (adaptivecards-designer,
# lib/adaptive-card-schema.js, the "Microsoft Adaptive Card Schema", draft-06). The package
# is not a dependency (it wants monaco-editor and an older adaptivecards as peers): `npm pack`
# takes its tarball from the npm registry, with the registry's integrity check, and only the
# schema file is kept.
#
#   hack/fetch-adaptive-card-schema.sh     fetch it when missing, print the file's path
#
# Cached in a folder of its own of $MRO_TOOLS_DIR (default .cache/tools), keyed by the version.
set -euo pipefail

version=2.4.4
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${MRO_TOOLS_DIR:-$root/.cache/tools}"
dir="$cache/adaptivecards-designer-$version"
file="$dir/adaptive-card-schema.cjs"

if [ ! -s "$file" ]; then
  command -v npm >/dev/null || { echo "fetch-adaptive-card-schema: npm is needed" >&2; exit 1; }
  echo "[fetch-adaptive-card-schema] npm pack adaptivecards-designer@$version" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack "adaptivecards-designer@$version" --silent >/dev/null)
  tar -xzf "$work"/adaptivecards-designer-"$version".tgz -C "$work" package/lib/adaptive-card-schema.js
  mkdir -p "$dir"
  mv "$work/package/lib/adaptive-card-schema.js" "$file.tmp"
  mv "$file.tmp" "$file"
fi
echo "$file"
