#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine with Node 20: Debian packages
# (as root, when missing) and the npm dependencies, then builds. Safe to run again: it only
# does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tools and the tests use (tests start real registries and compare with skopeo).
DEB_PACKAGES=(docker-registry busybox-static skopeo apache2-utils openssl zstd ca-certificates runc crun conmon uidmap catatonit golang-github-containers-common podman)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building"
npx turbo run build --output-logs=errors-only
