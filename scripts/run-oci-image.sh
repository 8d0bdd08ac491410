#!/usr/bin/env bash
# Runs an image built by build-image, without any daemon: unpack the OCI tar with umoci (which
# also validates it strictly) and run its entrypoint/cmd with runc. Usage: run-oci-image.sh IMAGE.tar [TAG]
set -euo pipefail
tarball=$1; tag=${2:-latest}
work=$(mktemp -d); trap 'runc delete -f "bi-run-$$" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir "$work/layout"; tar -xf "$tarball" -C "$work/layout"
rootless=(); [ "$(id -u)" = 0 ] || rootless=(--rootless)
umoci unpack "${rootless[@]}" --image "$work/layout:$tag" "$work/bundle" >/dev/null
# umoci writes an interactive spec; run detached from any terminal.
node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.process.terminal=false;require("fs").writeFileSync(f,JSON.stringify(c))' "$work/bundle/config.json"
runc_root=(); [ "$(id -u)" = 0 ] || runc_root=(--root "$work/runc")
runc "${runc_root[@]}" run --bundle "$work/bundle" "bi-run-$$" </dev/null
