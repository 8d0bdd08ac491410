#!/usr/bin/env bash
# Installs what build-image needs on Debian/Ubuntu: the system tools (with apt-get when run as
# root, otherwise it prints the exact command to run), then the npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# runc: the OCI runtime for RUN; uidmap: newuidmap/newgidmap for rootless builds;
# docker-registry, busybox-static, skopeo, umoci: the tests' loopback registry, base image and validators.
PKGS=(runc uidmap docker-registry busybox-static skopeo umoci)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "build-image needs these system packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# Debian's docker-registry package starts a system registry on :5000 on install; the tests run
# their own on a free loopback port, so the packaged one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

# `npm install` (not `npm ci`): npm 11 omits other platforms' optional packages (rollup's) from a
# lock file written on Linux, and `npm ci` then refuses it; install still honours the locked versions.
npm install --no-audit --no-fund
npm run build
