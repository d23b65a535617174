#!/usr/bin/env bash
# Makes k8s-snapshot.db: a real etcd 3.4.23 snapshot holding what kube-apiserver writes — the
# kubernetes/api testdata objects (k8s\0 + runtime.Unknown) under /registry/..., one value with
# an encryption-at-rest prefix, and a JSON value. Used by the browser tests (tests/e2e.mjs).
#   crates/kube/tests/data/make-snapshot.sh [OUT]   (needs etcd, etcdctl, curl, python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/k8s-snapshot.db}"
tmp="$(mktemp -d)"
read -r cport pport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
etcd --name k8s --data-dir "$tmp/data" \
  --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "k8s=http://127.0.0.1:$pport" >"$tmp/etcd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  etcdctl --endpoints="127.0.0.1:$cport" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
put() { # put KEY VALUE_FILE
  curl -sf "http://127.0.0.1:$cport/v3/kv/put" -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\",\"value\":\"$(base64 -w0 <"$2")\"}" >/dev/null
}
put /registry/pods/default/nameValue "$here/core.v1.Pod.pb"
put /registry/configmaps/default/nameValue "$here/core.v1.ConfigMap.pb"
put /registry/deployments/default/nameValue "$here/apps.v1.Deployment.pb"
printf 'k8s:enc:aescbc:v1:key1:' >"$tmp/enc"
head -c 64 /dev/urandom >>"$tmp/enc"
put /registry/secrets/default/nameValue "$tmp/enc"
printf '{"kind":"Lease","apiVersion":"coordination.k8s.io/v1"}' >"$tmp/json"
put /registry/leases/kube-system/json-lease "$tmp/json"
ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$cport" snapshot save "$out" >/dev/null 2>&1
echo "$out: $(stat -c %s "$out") bytes"
