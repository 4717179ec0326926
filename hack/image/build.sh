#!/usr/bin/env bash
# Build the operator image from the repository's Dockerfile, unchanged, with Debian's podman, and print its name.
#
# There is no Docker engine and no registry here, so the Dockerfile's `FROM python:3.11-slim-bookworm` is
# satisfied by a local base of the same Debian release and Python, made with mmdebstrap (cached under
# ~/.cache/cloudpods-operator/image-base/, keyed by both) and imported under that FROM name; podman builds
# with --isolation=chroot (RUN steps work; this machine's cgroup layout lets podman build but not run
# containers, so tests/integration/test_image.py runs the result with chroot). The base carries this
# machine's CA bundle, so pip inside the build trusts what the host trusts.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash hack/image/install.sh
cache=${K8S_CACHE:-$HOME/.cache/cloudpods-operator}/image-base
from=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)         # python:3.11-slim-bookworm
python=${from#python:}; python=${python%%-*}                # 3.11
release=${from##*-}                                         # bookworm
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' src/cloudpods_operator/__init__.py)
base=$cache/$release-python$python.tar
if [ ! -s "$base" ]; then
  mkdir -p "$cache"
  echo "hack/image/build.sh: making the local base $from with mmdebstrap ($release)" >&2
  mmdebstrap --quiet --variant=essential --include=python3,python3-venv,python-is-python3,ca-certificates \
    --customize-hook='upload /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt' \
    --format=tar "$release" "$base.tmp" >&2
  tar -tf "$base.tmp" > "$base.list"   # not piped into grep -q: tar's SIGPIPE would fail the pipeline
  grep -qx "./usr/bin/python$python" "$base.list" \
    || { echo "hack/image/build.sh: $release has no python$python, but the Dockerfile wants $from" >&2; rm -f "$base.tmp"; exit 1; }
  rm -f "$base.list"
  mv "$base.tmp" "$base"
fi
if ! podman image exists "docker.io/library/$from"; then
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    "$base" "docker.io/library/$from" >/dev/null
fi
image=localhost/cloudpods-operator:$version
podman build --quiet --isolation=chroot --pull=never -t "$image" . >&2
podman image prune --force >/dev/null   # the previous build's untagged images: each run would keep ~700 MB
echo "$image"
