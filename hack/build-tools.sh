#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), etcd, kwok and helm from pinned Go modules in hack/tools/,
# and caches the binaries in a git-ignored folder keyed by version.
#
#   hack/build-tools.sh            build what is missing, print the bin folder
#   MRO_TOOLS_DIR=/some/dir ...    cache elsewhere (CI keeps one cache across clones)
#
# A cold build takes many minutes on two cores; later runs only check the cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools"
cache="${MRO_TOOLS_DIR:-$root/.cache/tools}"

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v4.3.1

bin="$cache/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$bin"

command -v go >/dev/null || { echo "build-tools: Go is needed to build the control plane (go 1.26 or newer)" >&2; exit 1; }

log() { echo "[build-tools] $*" >&2; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
build_date=2026-01-01T00:00:00Z

# build MODULE_DIR OUTPUT PACKAGE LDFLAGS
build() {
  local dir=$1 out=$2 pkg=$3 ldflags=$4
  if [ -x "$bin/$out" ]; then return 0; fi
  log "building $out ($pkg) ..."
  local start=$SECONDS
  (cd "$tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  log "built $out in $((SECONDS - start))s"
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kv=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kv="$kv -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kv="$kv -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kv"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kv"
build kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kv"
build kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$kv"
build etcd etcd go.etcd.io/etcd/server/v3 ""
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
build helm helm helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/pkg/chart/common.k8sVersionMajor=1 -X helm.sh/helm/v4/pkg/chart/common.k8sVersionMinor=$minor"

# gitops-health, the GitOps tests' program with Argo CD's and Flux's own health code: a
# script and a cache folder of its own, keyed by its own pins (see the script); built here
# so that a fresh machine builds it once, with the rest.
bash "$root/hack/build-gitops-health.sh" >/dev/null

echo "$bin"
