#!/usr/bin/env bash
# Build (or reuse from the cache) the local control plane's binaries from Go modules:
#   kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes), etcd, kwok, helm.
# Versions come from versions.env; the k8s + etcd module graph is pinned by go.mod/go.sum beside this script.
#
#   bash hack/cluster/build.sh              build what is missing, print the binary directory at the end
#   bash hack/cluster/build.sh --print-dir  only print the binary directory
#   bash hack/cluster/build.sh --print-replaces  print the replace block go.mod needs for K8S_VERSION
#
# Environment: CLOUDPODS_OPERATOR_CACHE (default ~/.cache/cloudpods-operator) is the cache root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE_ROOT="${CLOUDPODS_OPERATOR_CACHE:-$HOME/.cache/cloudpods-operator}"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}-helm-${HELM_VERSION}"
BIN_DIR="$CACHE_ROOT/$KEY"

case "${1:-}" in
  --print-dir) echo "$BIN_DIR"; exit 0 ;;
  --print-replaces)
    gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    echo "replace ("
    grep -E '^\s+k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk -v v="$K8S_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--print-dir|--print-replaces]" >&2; exit 2 ;;
esac

START=$SECONDS
log() { printf '[build %4ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[build %4ds] ERROR: %s\n' "$((SECONDS - START))" "$*" >&2; exit 1; }
trap 'die "failed at line $LINENO (exit $?)"' ERR

command -v go >/dev/null || die "go is not on PATH; Go >= 1.26 is needed to build the control plane"
GOV="$(go env GOVERSION)"
case "$GOV" in
  go1.2[6-9]*|go1.[3-9]*) ;;
  *) die "Go >= 1.26 is needed, found $GOV" ;;
esac
grep -q "k8s.io/kubernetes ${K8S_VERSION}\$" "$HERE/go.mod" || die "go.mod does not pin k8s.io/kubernetes ${K8S_VERSION} (versions.env)"
grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" "$HERE/go.mod" || die "go.mod does not pin etcd ${ETCD_VERSION} (versions.env)"

# Never fetch another toolchain, never touch go.mod/go.sum while building; no VCS stamping.
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
mkdir -p "$BIN_DIR"
TMP="$(mktemp -d "$BIN_DIR/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

K8S_MINOR="${K8S_VERSION#v1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${K8S_MINOR}"
  K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

need() {  # need NAME: true if the binary is missing
  if [[ -x "$BIN_DIR/$1" ]]; then log "$1: cached ($BIN_DIR/$1)"; return 1; fi
  return 0
}
done_one() {  # done_one NAME T0: move the fresh binary into place atomically
  mv -f "$TMP/$1" "$BIN_DIR/$1"
  log "$1: built in $((SECONDS - $2))s ($(du -m "$BIN_DIR/$1" | cut -f1) MB)"
}

wrapper_build() {  # wrapper_build NAME PACKAGE LDFLAGS
  local name=$1 pkg=$2 ldflags=$3 t0=$SECONDS
  need "$name" || return 0
  log "$name: building $pkg (wrapper module $HERE)"
  (cd "$HERE" && go build -trimpath -ldflags="$ldflags" -o "$TMP/$name" "$pkg") || die "$name: go build failed"
  done_one "$name" "$t0"
}

install_build() {  # install_build NAME PACKAGE@VERSION LDFLAGS
  local name=$1 pkgv=$2 ldflags=$3 t0=$SECONDS
  need "$name" || return 0
  log "$name: go install $pkgv"
  mkdir -p "$TMP/gobin"
  # Outside any module, so only the tool's own go.mod counts.
  (cd "$TMP" && GOFLAGS=-buildvcs=false GOBIN="$TMP/gobin" go install -trimpath -ldflags="$ldflags" "$pkgv") \
    || die "$name: go install failed"
  mv -f "$TMP/gobin/$name" "$TMP/$name"
  done_one "$name" "$t0"
}

log "binaries for $KEY -> $BIN_DIR ($GOV, $(nproc) cores)"
# One link at a time: two concurrent Kubernetes links can need 4 GB.
wrapper_build etcd go.etcd.io/etcd/server/v3 "-s -w"
wrapper_build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS"
wrapper_build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_LDFLAGS"
wrapper_build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$K8S_LDFLAGS"
install_build kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
install_build helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok helm; do
  [[ -x "$BIN_DIR/$b" ]] || die "$b is missing from $BIN_DIR"
done
log "all binaries ready in $BIN_DIR"
