#!/usr/bin/env bash
# Builds hack/tools/gitops-health: a small program that computes a Kubernetes object's
# health with Argo CD's own code (github.com/argoproj/argo-cd/v3 util/settings, util/lua and
# gitops-engine), kstatus (sigs.k8s.io/cli-utils status.Compute) and Flux's wait
# (github.com/fluxcd/pkg/runtime/cel, github.com/fluxcd/cli-utils). The GitOps tests run it
# over the health script's test objects and over live ModelDeployments.
#
#   hack/build-gitops-health.sh     build it when missing, print the binary's path
#
# Cached in its own folder of $MRO_TOOLS_DIR (default .cache/tools), keyed by the pinned
# Argo CD, cli-utils and Flux runtime versions and a hash of the program's source (go.mod,
# go.sum, main.go), so a change of any builds it again and the control plane's binaries are never touched. Argo CD v3.6 needs
# Go 1.27: the go command fetches the toolchain named in go.mod from the Go module proxy
# when the machine's Go is older. A cold build took 5 minutes on two busy cores (5.5 minutes
# of CPU time, 1.5 GB of modules).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/hack/tools/gitops-health"
cache="${MRO_TOOLS_DIR:-$root/.cache/tools}"

command -v go >/dev/null || { echo "build-gitops-health: Go is needed (go 1.26 or newer)" >&2; exit 1; }

pin() { awk -v m="$1" '$1 == m { print $2; exit }' "$src/go.mod"; }
argocd=$(pin github.com/argoproj/argo-cd/v3)
cliutils=$(pin sigs.k8s.io/cli-utils)
flux=$(pin github.com/fluxcd/pkg/runtime)
[ -n "$argocd" ] && [ -n "$cliutils" ] && [ -n "$flux" ] || { echo "build-gitops-health: no pins in $src/go.mod" >&2; exit 1; }
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-8)

dir="$cache/gitops-health-argocd-$argocd-cli-utils-$cliutils-flux-runtime-$flux-$hash"
out="$dir/gitops-health"
if [ ! -x "$out" ]; then
  echo "[build-tools] building gitops-health (argo-cd $argocd, cli-utils $cliutils, flux runtime $flux) ..." >&2
  start=$SECONDS
  mkdir -p "$dir"
  # GOTOOLCHAIN=auto: the one build here that may switch Go toolchains (see above).
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=auto \
    go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "[build-tools] built gitops-health in $((SECONDS - start))s" >&2
fi
echo "$out"
