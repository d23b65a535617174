#!/usr/bin/env python3
"""Makes the encryption-at-rest fixtures of crates/kube/tests/encryption.rs, independently of the
Rust code under test: AES-CBC and AES-GCM by Python `cryptography` (OpenSSL), secretbox by
libsodium's crypto_secretbox_easy (XSalsa20-Poly1305, the NaCl construction Go's
golang.org/x/crypto/nacl/secretbox implements: 16-byte tag, then the ciphertext).

Values are laid out as kube-apiserver writes them (k8s.io/apiserver
pkg/storage/value/encrypt/{aes,secretbox}, pkg/server/options/encryptionconfig/config.go):
    k8s:enc:aescbc:v1:<name>:    IV(16) || AES-CBC(PKCS#7(plaintext))
    k8s:enc:aesgcm:v1:<name>:    nonce(12) || AES-GCM(plaintext, aad = etcd key) || tag(16)
    k8s:enc:secretbox:v1:<name>: nonce(24) || tag(16) || XSalsa20(plaintext)
    k8s:enc:kms:v2:<name>:       protobuf EncryptedObject (layout only: no KMS here)
    k8s:enc:kms:v1:<name>:       u16 BE DEK length || DEK || data (layout only)
The plaintexts are the real kube-apiserver storage bytes in ../*.pb. Keys, IVs and nonces are
derived from fixed strings so that a rerun writes the same bytes. Throwaway keys: never use them.

Run from this directory: python3 make.py
"""
import base64
import ctypes
import ctypes.util
import hashlib
import json
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))


def derive(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"etcdscope fixture {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def plaintext(name):
    with open(os.path.join(HERE, "..", name + ".pb"), "rb") as f:
        return f.read()


KEYS = {
    # (provider, name, entry) -> secret
    ("aesgcm", "gcm256", 0): derive("gcm256", 32),
    ("aesgcm", "gcm128", 0): derive("gcm128", 16),
    ("aescbc", "cbc256", 0): derive("cbc256", 32),
    ("aescbc", "key1", 0): derive("key1 for secrets", 32),
    ("secretbox", "box1", 1): derive("box1", 32),
    ("aesgcm", "gcm192", 2): derive("gcm192", 24),
    # Same name as in entry 0, another secret: entry 2 covers pods ('*.*').
    ("aescbc", "key1", 2): derive("key1 for everything", 16),
}


def b64(k):
    return base64.b64encode(KEYS[k]).decode()


# The configuration, written as YAML by hand (the forms real files use: nested block lists at the
# key's indentation and indented, flow lists, quoted and plain scalars, comments).
CONFIG_YAML = f"""\
# EncryptionConfiguration for the tests (made by make.py; throwaway keys).
---
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - aesgcm:
          keys:
            - name: gcm256
              secret: {b64(("aesgcm", "gcm256", 0))}
            - name: gcm128
              secret: "{b64(("aesgcm", "gcm128", 0))}"
      - aescbc:
          keys:
          - name: cbc256
            secret: '{b64(("aescbc", "cbc256", 0))}'   # a comment
          - name: key1
            secret: {b64(("aescbc", "key1", 0))}
      - identity: {{}}
  - resources: [configmaps, '*.apps']
    providers:
    - secretbox:
        keys:
        - name: box1
          secret: {b64(("secretbox", "box1", 1))}
    - kms:
        apiVersion: v2
        name: vault-kms
        endpoint: unix:///var/run/kms-provider.sock
        timeout: 3s
    - kms:
        name: legacy-kms
        endpoint: unix:///tmp/legacy.sock
        cachesize: 1000
  - resources:
      - '*.*'
    providers:
      - aesgcm: {{keys: [{{name: gcm192, secret: "{b64(("aesgcm", "gcm192", 2))}"}}]}}
      - aescbc:
          keys:
            - name: key1
              secret: {b64(("aescbc", "key1", 2))}
      - identity: {{}}
"""

CONFIG = {
    "apiVersion": "apiserver.config.k8s.io/v1",
    "kind": "EncryptionConfiguration",
    "resources": [
        {
            "resources": ["secrets"],
            "providers": [
                {"aesgcm": {"keys": [
                    {"name": "gcm256", "secret": b64(("aesgcm", "gcm256", 0))},
                    {"name": "gcm128", "secret": b64(("aesgcm", "gcm128", 0))},
                ]}},
                {"aescbc": {"keys": [
                    {"name": "cbc256", "secret": b64(("aescbc", "cbc256", 0))},
                    {"name": "key1", "secret": b64(("aescbc", "key1", 0))},
                ]}},
                {"identity": {}},
            ],
        },
        {
            "resources": ["configmaps", "*.apps"],
            "providers": [
                {"secretbox": {"keys": [{"name": "box1", "secret": b64(("secretbox", "box1", 1))}]}},
                {"kms": {"apiVersion": "v2", "name": "vault-kms",
                         "endpoint": "unix:///var/run/kms-provider.sock", "timeout": "3s"}},
                {"kms": {"name": "legacy-kms", "endpoint": "unix:///tmp/legacy.sock", "cachesize": 1000}},
            ],
        },
        {
            "resources": ["*.*"],
            "providers": [
                {"aesgcm": {"keys": [{"name": "gcm192", "secret": b64(("aesgcm", "gcm192", 2))}]}},
                {"aescbc": {"keys": [{"name": "key1", "secret": b64(("aescbc", "key1", 2))}]}},
                {"identity": {}},
            ],
        },
    ],
}

try:  # Cross-check the hand-written YAML with PyYAML when it is installed.
    import yaml

    assert yaml.safe_load(CONFIG_YAML) == CONFIG, "config.yaml and config.json differ"
except ImportError:
    pass


def aescbc(key, iv, data):
    p = padding.PKCS7(128).padder()
    padded = p.update(data) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + e.update(padded) + e.finalize()


def aesgcm(key, nonce, data, aad):
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def secretbox(key, nonce, data):
    lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
    assert lib.sodium_init() >= 0
    out = ctypes.create_string_buffer(len(data) + 16)
    rc = lib.crypto_secretbox_easy(out, data, ctypes.c_ulonglong(len(data)), nonce, key)
    assert rc == 0
    return nonce + out.raw


def pb_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_bytes(field, data):
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


# (file, etcd key, plaintext, provider, key name, key entry)
VALUES = [
    ("secret-gcm256.bin", "/registry/secrets/default/s1", "core.v1.Secret", "aesgcm", "gcm256", 0),
    ("secret-gcm128.bin", "/registry/secrets/kube-system/s2", "core.v1.Secret", "aesgcm", "gcm128", 0),
    ("secret-cbc256.bin", "/registry/secrets/default/s3", "core.v1.Secret", "aescbc", "cbc256", 0),
    ("configmap-box1.bin", "/registry/configmaps/default/cm1", "core.v1.ConfigMap", "secretbox", "box1", 1),
    ("deployment-box1.bin", "/registry/deployments/default/d1", "apps.v1.Deployment", "secretbox", "box1", 1),
    ("pod-gcm192.bin", "/registry/pods/default/p1", "core.v1.Pod", "aesgcm", "gcm192", 2),
    ("pod-key1.bin", "/registry/pods/default/p2", "core.v1.Pod", "aescbc", "key1", 2),
    ("secret-key1.bin", "/registry/secrets/default/s4", "core.v1.Secret", "aescbc", "key1", 0),
]


def main():
    with open(os.path.join(HERE, "config.yaml"), "w") as f:
        f.write(CONFIG_YAML)
    with open(os.path.join(HERE, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    for file, etcd_key, pt, provider, name, entry in VALUES:
        key = KEYS[(provider, name, entry)]
        data = plaintext(pt)
        prefix = f"k8s:enc:{provider}:v1:{name}:".encode()
        if provider == "aescbc":
            body = aescbc(key, derive("iv " + file, 16), data)
        elif provider == "aesgcm":
            body = aesgcm(key, derive("nonce " + file, 12), data, etcd_key.encode())
        else:
            body = secretbox(key, derive("nonce " + file, 24), data)
        with open(os.path.join(HERE, file), "wb") as f:
            f.write(prefix + body)
    # KMS v2: an EncryptedObject {1 encryptedData, 2 keyID, 3 encryptedDEKSource, 5 type = 1}.
    obj = (
        pb_bytes(1, derive("kms v2 data", 80))
        + pb_bytes(2, b"arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d")
        + pb_bytes(3, derive("kms v2 dek", 40))
        + pb_varint(5 << 3 | 0) + pb_varint(1)
    )
    with open(os.path.join(HERE, "secret-kms-v2.bin"), "wb") as f:
        f.write(b"k8s:enc:kms:v2:vault-kms:" + obj)
    dek = derive("kms v1 dek", 48)
    with open(os.path.join(HERE, "secret-kms-v1.bin"), "wb") as f:
        f.write(b"k8s:enc:kms:v1:legacy-kms:" + len(dek).to_bytes(2, "big") + dek + derive("kms v1 data", 64))


if __name__ == "__main__":
    main()
