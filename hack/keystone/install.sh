#!/usr/bin/env bash
# Install OpenStack Keystone from PyPI into its own venv, cached outside the repo and keyed by its version
# and Python's: the Keystone v3 server the keystone integration tests and `make demo` run on 127.0.0.1
# (src/localcluster/_keystone.py). Cloudpods' keystone serves the same v3 identity API.
#
#   bash hack/keystone/install.sh        prints the venv's path; does nothing when it is complete
set -euo pipefail

VERSION="${KEYSTONE_VERSION:-30.0.0}"
PY="${PYTHON:-python3}"
PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
CACHE="${CLOUDPODS_OPERATOR_CACHE:-$HOME/.cache/cloudpods-operator}"
VENV="$CACHE/keystone-$VERSION-py$PYVER"

if [ -f "$VENV/.complete" ]; then
  echo "$VENV"
  exit 0
fi
start=$SECONDS
# An interrupted install left no .complete: start over.
rm -rf "$VENV"
mkdir -p "$CACHE"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "keystone==$VERSION"
"$VENV/bin/python" -W ignore -c 'import keystone.server.wsgi' >/dev/null 2>&1
touch "$VENV/.complete"
echo "keystone $VERSION installed in $((SECONDS - start)) s: $VENV" >&2
echo "$VENV"
