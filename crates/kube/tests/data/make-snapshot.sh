#!/usr/bin/env bash
# Makes k8s-snapshot.db: a real etcd 3.4.23 snapshot holding what kube-apiserver writes — the
# kubernetes/api testdata objects (k8s\0 + runtime.Unknown) under /registry/..., one overwritten
# three times, one deleted but held; values encrypted at rest (some decryptable with
# encryption/config.yaml); a namespace of events under a lease; JSON values (a custom resource);
# compact_rev_key. Used by the browser tests (tests/e2e.mjs) and the CLI tests.
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
ctl() { ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$cport" "$@"; }
# Objects (the pod overwritten three times), a plain Secret, a deleted ConfigMap still held.
for _ in 1 2 3; do put /registry/pods/default/nameValue "$here/core.v1.Pod.pb"; done
put /registry/configmaps/default/nameValue "$here/core.v1.ConfigMap.pb"
put /registry/deployments/default/nameValue "$here/apps.v1.Deployment.pb"
put /registry/secrets/default/plain "$here/core.v1.Secret.pb"
put /registry/configmaps/team-a/gone "$here/core.v1.ConfigMap.pb"
ctl del /registry/configmaps/team-a/gone >/dev/null
# Encrypted at rest: random bytes under an aescbc key name (never decrypts), and values from
# encryption/ (make.py) under the etcd keys they were encrypted for (encryption/config.yaml
# decrypts them; aesgcm authenticates the key).
printf 'k8s:enc:aescbc:v1:key1:' >"$tmp/enc"
head -c 64 /dev/urandom >>"$tmp/enc"
put /registry/secrets/default/nameValue "$tmp/enc"
put /registry/secrets/default/s1 "$here/encryption/secret-gcm256.bin"
put /registry/configmaps/default/cm1 "$here/encryption/configmap-box1.bin"
put /registry/secrets/default/kms "$here/encryption/secret-kms-v2.bin"
# One namespace with many events under a lease; JSON values; compact_rev_key.
lease=$(ctl lease grant 3600 | awk '{print $2}')
printf '{"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"busy"},"reason":"Pulled"}' >"$tmp/ev"
for i in $(seq 1 40); do ctl put --lease="$lease" "/registry/events/busy/web-0.$i" <"$tmp/ev" >/dev/null; done
printf '{"kind":"Lease","apiVersion":"coordination.k8s.io/v1"}' >"$tmp/json"
put /registry/leases/kube-system/json-lease "$tmp/json"
printf '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"team-a"},"spec":{"size":3}}' >"$tmp/cr"
put /registry/example.com/widgets/team-a/w1 "$tmp/cr"
printf '5' >"$tmp/crk"
put compact_rev_key "$tmp/crk"
ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$cport" snapshot save "$out" >/dev/null 2>&1
echo "$out: $(stat -c %s "$out") bytes"
