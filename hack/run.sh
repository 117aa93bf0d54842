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

# side_by_side NAME COMMAND [NAME COMMAND ...]: runs the commands at the same time, prints
# each one's output in one piece (in the order given) with its time, and fails when any failed.
side_by_side() {
  local dir names=() pids=() i rc=0 t0=$SECONDS
  dir=$(mktemp -d)
  i=0
  while [ $# -gt 0 ]; do
    names+=("$1")
    (
      s=$SECONDS
      code=0
      bash -c "$2" >"$dir/$i.out" 2>&1 || code=$?
      echo "$((SECONDS - s))" >"$dir/$i.time"
      exit "$code"
    ) &
    pids+=($!)
    shift 2
    i=$((i + 1))
  done
  for i in "${!pids[@]}"; do
    local code=0
    wait "${pids[$i]}" || code=$?
    local result="ok"
    [ "$code" = 0 ] || { result="FAILED (exit $code)"; rc=1; }
    echo "-- ${names[$i]}: $result in $(cat "$dir/$i.time" 2>/dev/null || echo ?)s"
    cat "$dir/$i.out"
  done
  rm -rf "$dir"
  echo "-- side by side: $((SECONDS - t0))s"
  return "$rc"
}

cmd=${1:-}
shift || true
case "$cmd" in
  lint)
    side_by_side "generated types" "node hack/generate-types.ts --check" \
      "tsc" "tsc --noEmit -p tsconfig.json" \
      "eslint" "eslint --max-warnings=0 ." \
      "prettier" "prettier --check --log-level=warn ."
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
    # test [FILE ...] [--jobs N] [MOCHA FLAGS]. Lint and the unit tests run side by side
    # (each prints in one piece when it ends); then the tests against the real control plane
    # in parallel workers, each with a control plane of its own (test/cluster/run-e2e.ts).
    # MRO_STEP_TIMES=FILE: each step's seconds are appended there (.ci/run prints them).
    step_time() { [ -z "${MRO_STEP_TIMES:-}" ] || echo "  $1: $2s" >>"$MRO_STEP_TIMES"; }
    echo "== lint and type check, unit tests"
    t=$SECONDS
    side_by_side "lint" "bash $0 lint" "unit tests" "mocha --config .mocharc.unit.json"
    step_time "lint and unit tests (side by side)" $((SECONDS - t))
    t=$SECONDS
    tools_bin
    dataplane_tools
    step_time "tools and data plane (cached)" $((SECONDS - t))
    echo "== tests against the real control plane"
    t=$SECONDS
    code=0
    node test/cluster/run-e2e.ts "$@" || code=$?
    step_time "tests against the real control plane" $((SECONDS - t))
    exit "$code"
    ;;
  test-e2e)
    # test-e2e [FILE ...] [MOCHA FLAGS]: only the files given (mocha would add them to the
    # config's whole spec), against a fresh control plane. With --jobs N: in N parallel
    # workers as `npm test` runs them (test/cluster/run-e2e.ts).
    tools_bin
    dataplane_tools
    case " $* " in
      *" --jobs "* | *" --jobs="*) exec node test/cluster/run-e2e.ts "$@" ;;
    esac
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
