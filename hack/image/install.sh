#!/usr/bin/env bash
# Debian's podman and mmdebstrap, installed when missing: the image is built with them (hack/image/build.sh)
# because this machine has no Docker engine. Needs root (apt-get), as hack/mariadb/install.sh does.
set -euo pipefail
missing=()
for tool in podman mmdebstrap newuidmap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "hack/image/install.sh: installing podman, mmdebstrap, uidmap (missing: ${missing[*]})" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "hack/image/install.sh: needs root for apt-get (or install podman mmdebstrap uidmap yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q podman mmdebstrap uidmap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q podman mmdebstrap uidmap >/dev/null; }
