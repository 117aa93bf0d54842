#!/usr/bin/env bash
# The one entry point behind the npm scripts. It brings Node 24 and the npm
# dependencies where they are missing (hack/env.sh) and the control-plane binaries and
# CoreDNS (hack/build-tools.sh), and for the tests the Gateway API data plane
# (hack/build-dataplane.sh), then runs the command.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh

tools_bin() {
  MRO_TOOLS_BIN=$(bash hack/build-tools.sh)
  MRO_COREDNS_BIN=$(bash hack/build-tools.sh coredns)
  export MRO_TOOLS_BIN MRO_COREDNS_BIN
  export PATH="$MRO_TOOLS_BIN:$PATH"
}

# Envoy Gateway, Envoy and the Gateway API CRDs for the traffic tests: sets MRO_ENVOY_GATEWAY,
# MRO_ENVOY, MRO_ENVOY_VERSION, MRO_GATEWAY_API_CRDS, MRO_INFERENCE_CRDS.
dataplane_tools() {
  local exports
  exports=$(bash hack/build-dataplane.sh)
  eval "$exports"
}

cmd=${1:-}
shift || true
case "$cmd" in
  lint)
    node hack/generate-types.ts --check
    tsc --noEmit -p tsconfig.json
    eslint --max-warnings=0 .
    prettier --check --log-level=warn .
    ;;
  generate)
    node hack/generate-types.ts "$@"
    ;;
  image)
    bash hack/build-image.sh "$@"
    ;;
  build)
    rm -rf dist
    tsc -p tsconfig.build.json
    ;;
  test-unit)
    mocha --config .mocharc.unit.json "$@"
    ;;
  test)
    echo "== lint and type check"
    bash "$0" lint
    echo "== unit tests"
    mocha --config .mocharc.unit.json
    tools_bin
    dataplane_tools
    echo "== tests against the real control plane"
    mocha --config .mocharc.e2e.json "$@"
    ;;
  test-e2e)
    # test-e2e [FILE ...] [MOCHA FLAGS]: only the files given (mocha would add them to the
    # config's whole spec), against a fresh control plane.
    tools_bin
    dataplane_tools
    files=() flags=()
    for a in "$@"; do
      if [ -f "$a" ]; then files+=("$a"); else flags+=("$a"); fi
    done
    config=.mocharc.e2e.json
    if [ ${#files[@]} -gt 0 ]; then
      config=$(mktemp --suffix=.json)
      node -e 'const c = JSON.parse(require("fs").readFileSync(".mocharc.e2e.json", "utf8"));
        c.spec = process.argv.slice(1); console.log(JSON.stringify(c));' "${files[@]}" >"$config"
    fi
    mocha --config "$config" ${flags[@]+"${flags[@]}"}
    ;;
  cluster-up)
    tools_bin
    node test/cluster/cli.ts up "$@"
    ;;
  cluster-down)
    node test/cluster/cli.ts down "$@"
    ;;
  playground)
    tools_bin
    node hack/playground.ts up "$@"
    ;;
  playground-down)
    node hack/playground.ts down "$@"
    ;;
  start)
    node src/main.ts "$@"
    ;;
  bench)
    tools_bin
    # The Gateway API CRDs for the rollout-cost case through a route (MRO_GATEWAY_API_CRDS).
    dataplane_tools
    node bench/run.ts "$@"
    ;;
  tools)
    tools_bin
    echo "$MRO_TOOLS_BIN"
    ;;
  dataplane-tools)
    bash hack/build-dataplane.sh
    ;;
  *)
    echo "usage: hack/run.sh lint|generate|build|image|test|test-unit|test-e2e|cluster-up|cluster-down|playground|playground-down|start|bench|tools|dataplane-tools" >&2
    exit 2
    ;;
esac
