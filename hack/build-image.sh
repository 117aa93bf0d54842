#!/usr/bin/env bash
# Builds the operator's container image from the repository's Dockerfile, unchanged, with
# buildah: no daemon, `chroot` isolation, `vfs` storage in a git-ignored folder of the cache.
#
#   hack/build-image.sh            (npm run image) build, print the size and layers, and
#                                  print the image ID as the last line on stdout
#
# The base is the Dockerfile's NODE_IMAGE (`node:24-slim`). When no container registry can
# be reached, the script first makes a local stand-in for it and passes it through
# `--build-arg NODE_IMAGE`: a minimal Debian root filesystem (debootstrap --variant=minbase,
# from Debian's package mirror), the Node 24 binary of the npm package node-linux-* that
# hack/env.sh uses (same pinned version) and npm from the npm registry. The stand-in is
# cached in the image store under a tag made of those versions, like the control-plane
# binaries; the operator image is built with buildah's layer cache (--layers), so a warm
# run re-uses every layer whose inputs did not change.
#
#   MRO_CACHE_DIR    cache folder (default ./.cache); the image store is in $MRO_CACHE_DIR/image
#   MRO_IMAGE_DIR    the image store's folder instead
#   MRO_IMAGE        the tag to give the image (default model-rollout-operator:<package version>,
#                    the chart's default image)
#   MRO_NODE_IMAGE   the base to build on, skipping the registry check (a pinned digest, or
#                    `standin` for the local stand-in)
#   MRO_DEBIAN_MIRROR  the Debian mirror for the stand-in (default: the machine's apt source)
#
# Needs root (debootstrap, and mounting the stand-in's files into the store), buildah and
# debootstrap (Debian packages of the same names; .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh

NPM_VERSION=11.21.2
DEBIAN_SUITE=trixie
# Bump when the stand-in's recipe below changes, so cached stand-ins are rebuilt.
STANDIN_REVISION=1
REAL_BASE=docker.io/library/node:24-slim
PULL_TIMEOUT_S=60

log() { echo "[build-image] $*" >&2; }
die() {
  log "$*"
  exit 1
}

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || die "$tool is needed: apt-get install buildah debootstrap"
done
[ "$(id -u)" = 0 ] || die "run as root: debootstrap and buildah's vfs store need it"

image_dir="${MRO_IMAGE_DIR:-$MRO_CACHE_DIR/image}"
mkdir -p "$image_dir"
export BUILDAH_ISOLATION=chroot
bah() { buildah --root "$image_dir/storage" --runroot "$image_dir/run" --storage-driver vfs "$@"; }

version=$(node -p 'require("./package.json").version')
tag="${MRO_IMAGE:-model-rollout-operator:$version}"
case "$(uname -m)" in
  x86_64) oci_arch=amd64 ;;
  aarch64 | arm64) oci_arch=arm64 ;;
  *) die "no stand-in recipe for $(uname -m)" ;;
esac
standin="localhost/mro-node-standin:node-$NODE_VERSION-npm-$NPM_VERSION-$DEBIAN_SUITE-r$STANDIN_REVISION"

# The machine's own Debian mirror (deb822 or one-line sources), else debootstrap's default.
debian_mirror() {
  if [ -n "${MRO_DEBIAN_MIRROR:-}" ]; then
    echo "$MRO_DEBIAN_MIRROR"
    return
  fi
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ && $2 !~ /security/ { print $2; exit } /^deb / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done | head -n 1
}

make_standin() {
  local start=$SECONDS work ctr mnt nodepkg mirror
  work=$(mktemp -d "$image_dir/standin.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the folder to remove is this one
  trap "rm -rf '$work'" EXIT
  mirror=$(debian_mirror)
  log "making the stand-in $standin: debootstrap --variant=minbase $DEBIAN_SUITE ${mirror:-(default mirror)} ..."
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$work/rootfs" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $(tail -n 20 "$work/debootstrap.log")"
  local r="$work/rootfs"
  # Slim like Debian's -slim images: no package lists, caches, documentation or locales
  # (copyright files stay); /dev is the runtime's job.
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old \
    "$r"/var/log/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/dev/*
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  # Node where the official images have it: /usr/local/bin/node, headers and man page beside.
  nodepkg=$(node_package_dir)
  install -D -m 0755 "$nodepkg/bin/node" "$r/usr/local/bin/node"
  cp -R "$nodepkg/include" "$nodepkg/share" "$r/usr/local/"
  # npm in /usr/local/lib/node_modules/npm with npm and npx in /usr/local/bin, as Node's
  # release archives lay it out.
  npm install --global --prefix "$r/usr/local" --no-audit --no-fund --loglevel=error "npm@$NPM_VERSION" >/dev/null
  "$r/usr/local/bin/node" "$r/usr/local/bin/npm" --version >/dev/null || die "npm does not run in the stand-in"

  ctr=$(bah from --pull=never scratch)
  mnt=$(bah mount "$ctr")
  cp -a "$r/." "$mnt/"
  bah umount "$ctr" >/dev/null
  bah config --os linux --arch "$oci_arch" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" \
    --cmd '["node"]' \
    --created-by "debootstrap --variant=minbase $DEBIAN_SUITE; Node $NODE_VERSION (npm package node-linux-*); npm $NPM_VERSION" \
    --label org.opencontainers.image.description="Local stand-in for node:24-slim: Debian $DEBIAN_SUITE minbase, Node $NODE_VERSION, npm $NPM_VERSION" \
    "$ctr"
  bah commit --quiet --rm "$ctr" "$standin" >/dev/null
  rm -rf "$work"
  trap - EXIT
  log "made the stand-in in $((SECONDS - start))s"
}

# vfs keeps a full copy of the file system in every layer, so the store would grow by
# hundreds of MiB per build: keep only the tagged images (this image, the current stand-in,
# a pulled base) and the layer cache of the last build (the steps its log names, the deps
# stage's `npm ci` among them); remove the rest, and stand-ins of other versions.
prune_store() {
  local keep line img name
  keep=$(grep -oE -- '^--> (Using cache )?[0-9a-f]{11,64}' "$image_dir/build.log" | awk '{print $NF}' || true)
  while read -r img name; do
    img=${img#sha256:}
    case "$name" in
      "<none>:<none>") ;;
      localhost/mro-node-standin:*) [ "$name" != "$standin" ] || continue ;;
      *) continue ;;
    esac
    for line in $keep; do
      [ "${img#"$line"}" = "$img" ] || continue 2
    done
    # Without --force: an image that a container still uses (a test running from another
    # checkout) stays until the next build.
    bah rmi "$img" >/dev/null 2>&1 || true
  done < <(bah images --all --noheading --no-trunc --format '{{.ID}} {{.Name}}:{{.Tag}}')
}

# The base: MRO_NODE_IMAGE, else the real node:24-slim when a registry answers, else the stand-in.
if [ -n "${MRO_NODE_IMAGE:-}" ] && [ "$MRO_NODE_IMAGE" != standin ]; then
  base=$MRO_NODE_IMAGE
elif [ -z "${MRO_NODE_IMAGE:-}" ] && timeout "$PULL_TIMEOUT_S" buildah --root "$image_dir/storage" \
  --runroot "$image_dir/run" --storage-driver vfs pull --quiet "$REAL_BASE" >/dev/null 2>"$image_dir/pull.log"; then
  base=$REAL_BASE
else
  [ -n "${MRO_NODE_IMAGE:-}" ] || log "$REAL_BASE cannot be pulled ($(tail -n 1 "$image_dir/pull.log" | cut -c1-160)); building on a local stand-in"
  # In an `if`, not after `||`: set -e must stay in force inside make_standin.
  if ! bah inspect --type image "$standin" >/dev/null 2>&1; then make_standin; fi
  base=$standin
fi

# Behind a TLS-inspecting proxy the machine trusts an extra CA (NODE_EXTRA_CA_CERTS, as on
# these machines). The Dockerfile's `npm ci` gets it through a build-time mount, which is
# not part of any layer: Node's own root certificates plus the extra ones, as npm's cafile.
build_mounts=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
  ca_dir="$image_dir/build-ca"
  mkdir -p "$ca_dir"
  node -p 'require("tls").rootCertificates.join("\n")' >"$ca_dir/ca.pem"
  cat "$NODE_EXTRA_CA_CERTS" >>"$ca_dir/ca.pem"
  echo "cafile=/run/mro-build-ca/ca.pem" >"$ca_dir/npmrc"
  build_mounts=(--volume "$ca_dir:/run/mro-build-ca:ro" --volume "$ca_dir/npmrc:/root/.npmrc:ro")
fi

base_id=$(bah inspect --type image --format '{{.FromImageID}}' "$base")
# Everything the build reads, hashed: when nothing changed, the image built last time is it.
inputs=$(node hack/image-inputs.ts . "NODE_IMAGE=$base@$base_id" "arch=$oci_arch")
stamp="$image_dir/built/$inputs"
id=""
if [ -f "$stamp" ] && bah inspect --type image "$(cat "$stamp")" >/dev/null 2>&1; then
  id=$(cat "$stamp")
  bah tag "$id" "$tag"
  log "$tag: inputs unchanged since the last build (${inputs:0:12}), image ${id:0:12}"
else
  log "building $tag on $base ..."
  start=$SECONDS
  bah build --layers --force-rm --pull=never --isolation chroot "${build_mounts[@]}" \
    --build-arg NODE_IMAGE="$base" \
    --file Dockerfile --tag "$tag" . >"$image_dir/build.log" 2>&1 ||
    die "buildah build failed (log: $image_dir/build.log):
$(tail -n 30 "$image_dir/build.log")"
  id=$(bah inspect --type image --format '{{.FromImageID}}' "$tag")
  prune_store
  mkdir -p "$image_dir/built"
  rm -f "$image_dir"/built/*
  echo "$id" >"$stamp"
  log "built in $((SECONDS - start))s"
fi

# The size and the layers, from the image's manifest (uncompressed layer sizes) and history.
bah inspect --type image "$tag" | node -e '
  const img = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const layers = JSON.parse(img.Manifest).layers;
  const history = img.OCIv1.history ?? [];
  const mib = (n) => (n / 1048576).toFixed(1).padStart(7) + " MiB";
  const total = layers.reduce((s, l) => s + l.size, 0);
  const out = [`[build-image] ${process.argv[1]} (${img.FromImageID.slice(0, 12)}): ${mib(total).trim()} in ${layers.length} layers`];
  let i = 0;
  for (const h of history) {
    if (h.empty_layer) continue;
    const l = layers[i++];
    const what = (h.created_by ?? "").replace(/^\/bin\/sh -c (#\(nop\) )?/, "").replace(/\s+/g, " ");
    out.push(`[build-image] ${l ? mib(l.size) : "      ?"}  ${what.slice(0, 100)}`);
  }
  console.error(out.join("\n"));
' "$tag"
echo "$id"
