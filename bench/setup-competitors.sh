#!/usr/bin/env bash
# Installs the competitors of bench/compare.mjs from Debian: docker.io (dockerd + BuildKit as
# vendored in docker 20.10, client at /usr/bin/docker) and buildah, plus the registry and the
# busybox the shared base image is made from.
#
# It never starts or configures a system dockerd: compare.mjs runs its own daemon on a private
# socket and data root under /tmp/bi-bench and stops it afterwards. Package maintainer scripts
# would try to start docker.service; /usr/sbin/policy-rc.d (exit 101) keeps them from doing so,
# and this script installs a temporary one when the machine has none.
set -euo pipefail

PKGS=(docker.io buildah docker-registry busybox-static python3 time)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-competitors: all installed (${PKGS[*]})"
else
  cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
  if [ "$(id -u)" != 0 ]; then
    echo "setup-competitors: not root; run as root:" >&2
    echo "  apt-get update && ${cmd[*]}" >&2
    exit 1
  fi
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  trap '[ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  "${cmd[@]}"
fi

# The Debian client (20.10) is the one that builds with BuildKit without the buildx plugin; a
# newer client earlier on PATH (docker >= 23 needs buildx for DOCKER_BUILDKIT=1) is not used.
for b in /usr/bin/docker /usr/sbin/dockerd /usr/bin/buildah /usr/bin/docker-registry; do
  [ -x "$b" ] || { echo "setup-competitors: $b missing after install" >&2; exit 1; }
done
echo "docker client: $(/usr/bin/docker --version)"
echo "dockerd:       $(/usr/sbin/dockerd --version)"
echo "buildah:       $(/usr/bin/buildah --version)"
