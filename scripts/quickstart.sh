#!/usr/bin/env bash
# The README's first command: install what is needed, build the examples' busybox base image and
# the hello example with build-image (offline, no daemon), validate and run the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
out=.tmp/quickstart; rm -rf "$out"; mkdir -p "$out"
export BUILD_IMAGE_CACHE_DIR=${BUILD_IMAGE_CACHE_DIR:-$PWD/.tmp/cache}
bi() { node packages/builder/dist/cli/main.js "$@"; }
bash scripts/make-busybox-rootfs.sh
bi build --progress plain -t busybox:latest --output "type=oci,dest=$out/busybox,tar=false" examples/busybox-base
bi build --progress plain -t hello:latest --build-context "busybox=oci-layout://$out/busybox:latest" \
  --output "type=oci,dest=$out/hello.tar" examples/hello
skopeo inspect "oci-archive:$out/hello.tar" >/dev/null && echo "skopeo: $out/hello.tar is a valid OCI archive"
bash scripts/run-oci-image.sh "$out/hello.tar"
