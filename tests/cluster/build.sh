#!/usr/bin/env bash
# Builds the test control plane from Go modules (Kubernetes' own kube-apiserver,
# kube-controller-manager and kube-scheduler at the release go.mod names, etcd at the release
# Kubernetes pins, kwok) into a cache folder keyed by these files, and prints that folder.
# A second call with the same files is a no-op.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
KWOK_VERSION=v0.8.0
key=$(cat "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" "$0" | sha256sum | cut -c1-12)
cache="${KAK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kedro-airflow-k8s}/cluster-$key"
bin="$cache/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
missing=0
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/build.XXXXXX")
  start=$(date +%s)
  echo "building the test control plane into $bin (cold: about 15 minutes on 2 cores)" >&2
  (cd "$here" && go build -trimpath -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler)
  (cd "$here" && go build -trimpath -o "$tmp/etcd" ./etcd)
  # kwok pins its own k8s.io libraries, so it is built as its own module at its release
  GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -trimpath" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$bin" && mv "$tmp" "$bin"
  echo "built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
