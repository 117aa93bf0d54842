#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), etcd, kwok and helm from pinned Go modules in hack/tools/,
# and caches the binaries in a git-ignored folder keyed by version. Tools added later
# (CoreDNS, the cluster DNS) get a folder of their own, keyed by their own version, so
# adding one never moves or rebuilds the control plane.
#
#   hack/build-tools.sh            build what is missing, print the control plane's bin folder
#   hack/build-tools.sh coredns    build CoreDNS if it is missing, print its bin folder
#   MRO_TOOLS_DIR=/some/dir ...    cache elsewhere (CI keeps one cache across clones)
#
# A cold build takes many minutes on two cores; later runs only check the cache. Every
# build logs "[build-tools] built NAME in Ns" (stderr); .ci/run sums these lines up.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools"
cache="${MRO_TOOLS_DIR:-$root/.cache/tools}"

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v4.3.1
COREDNS_VERSION=v1.14.7

command -v go >/dev/null || { echo "build-tools: Go is needed to build the control plane (go 1.26 or newer)" >&2; exit 1; }

log() { echo "[build-tools] $*" >&2; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
build_date=2026-01-01T00:00:00Z

# build BIN_DIR MODULE_DIR OUTPUT PACKAGE LDFLAGS
build() {
  local bin=$1 dir=$2 out=$3 pkg=$4 ldflags=$5
  if [ -x "$bin/$out" ]; then return 0; fi
  mkdir -p "$bin"
  log "building $out ($pkg) ..."
  local start=$SECONDS
  (cd "$tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$out.tmp" "$pkg")
  mv "$bin/$out.tmp" "$bin/$out"
  log "built $out in $((SECONDS - start))s"
}

if [ "${1:-}" = coredns ]; then
  # Keyed by the version and by the plugin list (main.go) and module pins: a plugin added
  # to hack/tools/coredns builds a new binary instead of reusing one without it.
  grep -q "github.com/coredns/coredns $COREDNS_VERSION\$" "$tools/coredns/go.mod" ||
    { echo "build-tools: hack/tools/coredns/go.mod does not pin CoreDNS $COREDNS_VERSION" >&2; exit 1; }
  pins=$(cat "$tools/coredns/main.go" "$tools/coredns/go.mod" "$tools/coredns/go.sum" | sha256sum | cut -c1-8)
  bin="$cache/coredns-$COREDNS_VERSION-$pins"
  build "$bin" coredns coredns . ""
  echo "$bin"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: hack/build-tools.sh [coredns]" >&2; exit 2; }

bin="$cache/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$bin"

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kv=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kv="$kv -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kv="$kv -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build "$bin" kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kv"
build "$bin" kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kv"
build "$bin" kubernetes kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kv"
build "$bin" kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$kv"
build "$bin" etcd etcd go.etcd.io/etcd/server/v3 ""
build "$bin" kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
build "$bin" helm helm helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/pkg/chart/common.k8sVersionMajor=1 -X helm.sh/helm/v4/pkg/chart/common.k8sVersionMinor=$minor"

# gitops-health, the GitOps tests' program with Argo CD's and Flux's own health code: a
# script and a cache folder of its own, keyed by its own pins (see the script); built here
# so that a fresh machine builds it once, with the rest.
bash "$root/hack/build-gitops-health.sh" >/dev/null

# The Adaptive Cards JSON schema of the notification tests (an npm package's file, fetched
# once into a folder of its own; see the script).
bash "$root/hack/fetch-adaptive-card-schema.sh" >/dev/null

echo "$bin"
