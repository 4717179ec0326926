#!/usr/bin/env bash
# Install MariaDB's server binaries (Debian's mariadb-server) for the MySQL integration tests, only when
# `mariadbd` is missing. The tests start their own throwaway server (tests/integration/mariadb.py), so the
# system service is neither started nor enabled: a policy-rc.d that exits 101 is in place during the
# install (the one found there, if any, is put back), the unit is disabled afterwards, and anything the
# package still started on 3306 is stopped.
#
#   bash hack/mariadb/install.sh     (as root, or with sudo available)
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
if command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "hack/mariadb/install.sh: mariadbd is missing and installing it needs root (or sudo):" >&2
    echo "  apt-get update && apt-get install -y mariadb-server" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
if ! command -v apt-get >/dev/null; then
  echo "hack/mariadb/install.sh: no apt-get here; install MariaDB's server (mariadbd, mariadb-install-db)" >&2
  echo "  with the system's package manager and run the tests again" >&2
  exit 1
fi

POLICY=/usr/sbin/policy-rc.d
BACKUP=""
restore_policy() {
  if [ -n "$BACKUP" ]; then
    "${SUDO[@]}" mv -f "$BACKUP" "$POLICY"
  else
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
if [ -e "$POLICY" ]; then
  BACKUP="$("${SUDO[@]}" mktemp /usr/sbin/policy-rc.d.XXXXXX)"
  "${SUDO[@]}" cp -p "$POLICY" "$BACKUP"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# hack/mariadb/install.sh: start no service while installing\nexit 101\n' |
  "${SUDO[@]}" tee "$POLICY" >/dev/null
"${SUDO[@]}" chmod 755 "$POLICY"

start=$SECONDS
echo "installing mariadb-server (apt-get update, apt-get install -y mariadb-server) ..."
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  mariadb-server >/dev/null

# Not enabled at boot either (systemd or SysV init, whichever the machine has).
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  "${SUDO[@]}" systemctl disable --now mariadb.service >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null && [ -e /etc/init.d/mariadb ]; then
  "${SUDO[@]}" update-rc.d mariadb disable >/dev/null 2>&1 || true
fi
# Nothing of the package's left running (a maintainer script that ignored the policy).
if [ -s /run/mysqld/mysqld.pid ]; then
  "${SUDO[@]}" kill "$(cat /run/mysqld/mysqld.pid)" 2>/dev/null || true
fi
if command -v ss >/dev/null && ss -ltn 'sport = :3306' | grep -q LISTEN; then
  echo "hack/mariadb/install.sh: something still listens on 3306 after the install; stop it" >&2
  exit 1
fi
echo "mariadb-server installed in $((SECONDS - start)) s: $(command -v mariadbd)"
