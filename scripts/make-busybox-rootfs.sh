#!/usr/bin/env bash
# Writes a minimal root filesystem from Debian's busybox-static into DIR (default
# examples/busybox-base/rootfs): the examples' base image is built from it with build-image
# itself (FROM scratch + COPY), so the quick start needs no registry and no network.
set -euo pipefail
dir=${1:-"$(dirname "$0")/../examples/busybox-base/rootfs"}
bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox not found: install Debian's busybox-static (scripts/install-deps.sh does)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"/{bin,etc,home/app,root,tmp,usr/bin}
cp "$bb" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
ln -sf ../../bin/busybox "$dir/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"; chmod 700 "$dir/root"
