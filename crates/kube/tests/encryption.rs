//! Decryption of values encrypted at rest, on ciphertexts made by independent implementations
//! (data/encryption/make.py: OpenSSL through Python `cryptography`, libsodium) and one recorded
//! from kube-apiserver's own AES-GCM transformer.

use kube::encryption::{
    kms_info, ConfigError, DecryptError, EncryptionConfig, KmsInfo, Provider, ProviderKind,
};
use kube::raw::{self, Envelope};

fn data(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text(path: &str) -> String {
    String::from_utf8(data(path)).unwrap()
}

fn config() -> EncryptionConfig {
    EncryptionConfig::parse(&text("encryption/config.yaml")).unwrap()
}

/// (value file, etcd key, plaintext, provider, key name), as make.py writes them.
const VALUES: [(&str, &str, &str, ProviderKind, &str); 8] = [
    (
        "secret-gcm256.bin",
        "/registry/secrets/default/s1",
        "core.v1.Secret",
        ProviderKind::AesGcm,
        "gcm256",
    ),
    (
        "secret-gcm128.bin",
        "/registry/secrets/kube-system/s2",
        "core.v1.Secret",
        ProviderKind::AesGcm,
        "gcm128",
    ),
    (
        "secret-cbc256.bin",
        "/registry/secrets/default/s3",
        "core.v1.Secret",
        ProviderKind::AesCbc,
        "cbc256",
    ),
    (
        "configmap-box1.bin",
        "/registry/configmaps/default/cm1",
        "core.v1.ConfigMap",
        ProviderKind::Secretbox,
        "box1",
    ),
    (
        "deployment-box1.bin",
        "/registry/deployments/default/d1",
        "apps.v1.Deployment",
        ProviderKind::Secretbox,
        "box1",
    ),
    (
        "pod-gcm192.bin",
        "/registry/pods/default/p1",
        "core.v1.Pod",
        ProviderKind::AesGcm,
        "gcm192",
    ),
    // `key1` names a 32-byte aescbc key for secrets and a 16-byte one for everything else.
    (
        "pod-key1.bin",
        "/registry/pods/default/p2",
        "core.v1.Pod",
        ProviderKind::AesCbc,
        "key1",
    ),
    (
        "secret-key1.bin",
        "/registry/secrets/default/s4",
        "core.v1.Secret",
        ProviderKind::AesCbc,
        "key1",
    ),
];

fn value(file: &str) -> Vec<u8> {
    data(&format!("encryption/{file}"))
}

#[test]
fn yaml_and_json_configs_read_the_same() {
    let y = config();
    let j = EncryptionConfig::parse(&text("encryption/config.json")).unwrap();
    assert_eq!(y.describe(), j.describe());
    assert_eq!(
        y.describe(),
        "secrets: aesgcm (gcm256 32 bytes, gcm128 16 bytes), aescbc (cbc256 32 bytes, key1 32 bytes), identity\n\
         configmaps, *.apps: secretbox (box1 32 bytes), kms v2 (vault-kms), kms v1 (legacy-kms)\n\
         *.*: aesgcm (gcm192 24 bytes), aescbc (key1 16 bytes), identity\n"
    );
    assert_eq!(y.rules.len(), 3);
    assert_eq!(y.rules[1].resources, ["configmaps", "*.apps"]);
    assert_eq!(
        y.rules.iter().map(|r| r.line).collect::<Vec<_>>(),
        [6, 22, 37]
    );
}

#[test]
fn every_fixture_decrypts_to_the_stored_object() {
    for cfg in [
        config(),
        EncryptionConfig::parse(&text("encryption/config.json")).unwrap(),
    ] {
        for (file, key, plain, provider, name) in VALUES {
            let v = value(file);
            assert!(
                matches!(raw::envelope(&v), Envelope::Encrypted(_)),
                "{file}"
            );
            let d = cfg
                .decrypt(key.as_bytes(), &v)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let expected = data(&format!("{plain}.pb"));
            assert!(d.plaintext == expected, "{file}: plaintext differs");
            assert_eq!(d.provider, provider, "{file}");
            assert_eq!(d.key_name, name, "{file}");
            assert!(matches!(
                raw::envelope(&d.plaintext),
                Envelope::Kubernetes(_)
            ));
        }
    }
}

#[test]
fn aesgcm_authenticates_the_etcd_key() {
    let cfg = config();
    for (file, key) in [
        ("secret-gcm256.bin", "/registry/secrets/default/s1"),
        ("pod-gcm192.bin", "/registry/pods/default/p1"),
    ] {
        let v = value(file);
        assert!(cfg.decrypt(key.as_bytes(), &v).is_ok());
        for other in [
            format!("{key}x"),
            key.replace("default", "other"),
            String::new(),
        ] {
            match cfg.decrypt(other.as_bytes(), &v) {
                Err(DecryptError::WrongKey { provider, .. }) => {
                    assert_eq!(provider, ProviderKind::AesGcm)
                }
                other => panic!("{file} under another key: {other:?}"),
            }
        }
    }
    // Neither CBC nor secretbox authenticates the etcd key: they open under any key.
    assert!(cfg.decrypt(b"/x", &value("secret-cbc256.bin")).is_ok());
    assert!(cfg.decrypt(b"/x", &value("configmap-box1.bin")).is_ok());
}

#[test]
fn kube_apiserver_recorded_aesgcm_value() {
    // k8s.io/apiserver pkg/storage/value/encrypt/aes/aes_test.go, TestGCMLegacyDataCompatibility:
    // "recorded output from NewGCMTransformer at commit 3b1fc60d8010dd8b53e97ba80e4710dbb430beee",
    // key "snorlax_awesomes", authenticated data "bamboo".
    let ct = hex("9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1");
    let cfg = EncryptionConfig::parse(
        "kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: k\n        secret: c25vcmxheF9hd2Vzb21lcw==\n",
    )
    .unwrap();
    let mut v = b"k8s:enc:aesgcm:v1:k:".to_vec();
    v.extend_from_slice(&ct);
    let d = cfg.decrypt(b"bamboo", &v).unwrap();
    assert_eq!(d.plaintext, b"pandas are the best");
    assert!(cfg.decrypt(b"bamboo!", &v).is_err());
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn key_name_selects_the_key() {
    let cfg = config();
    let v = value("secret-gcm256.bin");
    let rest = &v[b"k8s:enc:aesgcm:v1:gcm256:".len()..];
    // Another configured key of the same provider: authentication fails.
    let mut other = b"k8s:enc:aesgcm:v1:gcm128:".to_vec();
    other.extend_from_slice(rest);
    assert_eq!(
        cfg.decrypt(b"/registry/secrets/default/s1", &other),
        Err(DecryptError::WrongKey {
            provider: ProviderKind::AesGcm,
            key_name: "gcm128".into(),
            tried: 1
        })
    );
    // A name the configuration lacks.
    let mut unknown = b"k8s:enc:aesgcm:v1:rotated-away:".to_vec();
    unknown.extend_from_slice(rest);
    let e = cfg
        .decrypt(b"/registry/secrets/default/s1", &unknown)
        .unwrap_err();
    assert_eq!(
        e,
        DecryptError::UnknownKey {
            provider: ProviderKind::AesGcm,
            key_name: "rotated-away".into()
        }
    );
    assert!(e
        .to_string()
        .contains("no aesgcm key named \"rotated-away\""));
    // A secretbox key name under aescbc: the provider is part of the lookup.
    let mut wrong_provider = b"k8s:enc:aescbc:v1:box1:".to_vec();
    wrong_provider.extend_from_slice(rest);
    assert!(matches!(
        cfg.decrypt(b"/k", &wrong_provider),
        Err(DecryptError::UnknownKey {
            provider: ProviderKind::AesCbc,
            ..
        })
    ));
}

/// The fixture configuration with every secret replaced by other bytes of the same size.
fn wrong_config() -> EncryptionConfig {
    let mut out = String::new();
    for line in text("encryption/config.yaml").lines() {
        let mut line = line.to_string();
        if let Some(i) = line.find("secret: ") {
            let token: String = line[i + 8..]
                .chars()
                .skip_while(|c| *c == '"' || *c == '\'')
                .take_while(|c| c.is_ascii_alphanumeric() || "+/=".contains(*c))
                .collect();
            let other = match token.trim_end_matches('=').len() * 3 / 4 {
                16 => "QUJDREVGR0hJSktMTU5PUA==",
                24 => "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
                _ => "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
            };
            line = line.replace(&token, other);
        }
        out.push_str(&line);
        out.push('\n');
    }
    EncryptionConfig::parse(&out).unwrap()
}

#[test]
fn wrong_secrets_fail_with_the_key_name() {
    let cfg = wrong_config();
    assert_eq!(cfg.describe(), config().describe());
    for (file, key, _, provider, name) in VALUES {
        match cfg.decrypt(key.as_bytes(), &value(file)) {
            Err(DecryptError::WrongKey {
                provider: p,
                key_name,
                ..
            }) => {
                assert_eq!(p, provider, "{file}");
                assert_eq!(key_name, name, "{file}");
            }
            other => panic!("{file} with a wrong secret: {other:?}"),
        }
    }
}

#[test]
fn truncated_values_are_malformed_at_an_offset() {
    let cfg = config();
    for (file, key, plain, provider, name) in VALUES {
        let v = value(file);
        let header = format!("k8s:enc:{}:v1:{name}:", provider.name()).len();
        let whole = data(&format!("{plain}.pb"));
        for len in 0..v.len() {
            // AES-CBC is not authenticated: a value cut at a block boundary may still end in
            // valid padding, and then opens to a (damaged) prefix of the object.
            if let Ok(d) = cfg.decrypt(key.as_bytes(), &v[..len]) {
                assert_eq!(provider, ProviderKind::AesCbc, "{file} cut at {len}");
                assert!(d.plaintext.len() < whole.len() && (len - header) % 16 == 0);
            }
        }
        let (nonce, tag) = match provider {
            ProviderKind::AesCbc => (16, 0),
            ProviderKind::AesGcm => (12, 16),
            _ => (24, 16),
        };
        match cfg.decrypt(key.as_bytes(), &v[..header + nonce - 1]) {
            Err(DecryptError::Malformed { offset, .. }) => assert_eq!(offset, header, "{file}"),
            other => panic!("{file}: {other:?}"),
        }
        let cut = header + nonce + if tag > 0 { tag - 1 } else { 5 };
        match cfg.decrypt(key.as_bytes(), &v[..cut]) {
            Err(DecryptError::Malformed { offset, reason, .. }) => {
                assert_eq!(offset, header + nonce, "{file}: {reason}")
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn garbled_values_never_decrypt_wrongly_or_panic() {
    let cfg = config();
    for (file, key, plain, provider, _) in VALUES {
        let v = value(file);
        let expected = data(&format!("{plain}.pb"));
        let step = if v.len() > 2000 { 61 } else { 1 };
        let mut i = 0;
        while i < v.len() {
            for bit in [0x01u8, 0x80] {
                let mut g = v.clone();
                g[i] ^= bit;
                if let Ok(d) = cfg.decrypt(key.as_bytes(), &g) {
                    // Only AES-CBC opens a changed value: a flipped ciphertext bit garbles its
                    // block and flips the same bit of the next plaintext block; a flipped IV bit
                    // flips the first plaintext block.
                    assert_eq!(provider, ProviderKind::AesCbc, "{file} byte {i} bit {bit}");
                    assert!(d.plaintext != expected || g == v);
                }
            }
            i += step;
        }
    }
}

#[test]
fn hostile_values_never_panic() {
    let cfg = config();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let prefixes: [&[u8]; 9] = [
        b"k8s:enc:aescbc:v1:key1:",
        b"k8s:enc:aescbc:v1:cbc256:",
        b"k8s:enc:aesgcm:v1:gcm192:",
        b"k8s:enc:secretbox:v1:box1:",
        b"k8s:enc:kms:v1:legacy-kms:",
        b"k8s:enc:kms:v2:vault-kms:",
        b"k8s:enc:kms:v2:",
        b"k8s:enc:",
        b"k8s:enc:aesgcm:v1:",
    ];
    for round in 0..4000 {
        let p = prefixes[round % prefixes.len()];
        let mut v = p.to_vec();
        let n = (next() % 120) as usize;
        v.extend((0..n).map(|_| next() as u8));
        // Sometimes a protobuf-looking KMS v2 body.
        if round % 7 == 0 {
            v.truncate(p.len());
            v.extend_from_slice(&[0x12, (next() % 200) as u8, b'a', b'b']);
        }
        let _ = cfg.decrypt(b"/registry/secrets/default/s1", &v);
        let _ = kms_info(&v);
        for cut in 0..v.len().min(40) {
            let _ = cfg.decrypt(b"", &v[..cut]);
        }
    }
}

#[test]
fn kms_values_are_labelled_not_decrypted() {
    let cfg = config();
    let v2 = value("secret-kms-v2.bin");
    let want2 = KmsInfo {
        version: 2,
        provider_name: "vault-kms".into(),
        key_id: Some("arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d".into()),
    };
    let e = cfg
        .decrypt(b"/registry/secrets/default/s1", &v2)
        .unwrap_err();
    assert_eq!(e, DecryptError::Kms(want2.clone()));
    assert!(
        e.to_string().contains("KMS v2 provider \"vault-kms\""),
        "{e}"
    );
    assert!(e.to_string().contains("0a1b2c3d"), "{e}");
    assert_eq!(kms_info(&v2), Some(want2));

    let v1 = value("secret-kms-v1.bin");
    let want1 = KmsInfo {
        version: 1,
        provider_name: "legacy-kms".into(),
        key_id: None,
    };
    assert_eq!(
        cfg.decrypt(b"/registry/secrets/default/s1", &v1),
        Err(DecryptError::Kms(want1.clone()))
    );
    assert_eq!(kms_info(&v1), Some(want1));

    // KMS v1 names may hold ':'; the configuration tells where the name ends.
    let c = EncryptionConfig::parse(
        "resources:\n- resources: [secrets]\n  providers:\n  - kms: {name: 'a:b', endpoint: 'unix:///k.sock'}\n",
    )
    .unwrap();
    let v = b"k8s:enc:kms:v1:a:b:\x00\x02xyz";
    assert_eq!(
        c.decrypt(b"/k", v),
        Err(DecryptError::Kms(KmsInfo {
            version: 1,
            provider_name: "a:b".into(),
            key_id: None
        }))
    );
    assert_eq!(kms_info(v).unwrap().provider_name, "a");
    // A damaged EncryptedObject still names its provider.
    let mut broken = v2[..30].to_vec();
    broken.push(0xff);
    let info = kms_info(&broken).unwrap();
    assert_eq!((info.version, info.key_id), (2, None));
}

#[test]
fn plain_and_unknown_values() {
    let cfg = config();
    let pb = data("core.v1.Secret.pb");
    assert_eq!(
        cfg.decrypt(b"/registry/secrets/default/s1", &pb),
        Err(DecryptError::NotEncrypted)
    );
    assert_eq!(cfg.decrypt(b"", b""), Err(DecryptError::NotEncrypted));
    match cfg.decrypt(b"/k", b"k8s:enc:aesgcm:v2:gcm256:xxxx") {
        Err(DecryptError::UnknownProvider { prefix }) => {
            assert_eq!(prefix, "k8s:enc:aesgcm:v2:")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        cfg.decrypt(b"/k", b"k8s:enc:rot13:v1:k:\x00\xff"),
        Err(DecryptError::UnknownProvider { .. })
    ));
    assert!(kms_info(b"k8s:enc:aescbc:v1:k:").is_none());
}

#[test]
fn upstream_configurations() {
    let legacy = EncryptionConfig::parse(&text("encryption/upstream/legacy.yaml")).unwrap();
    assert_eq!(
        legacy.describe(),
        "secrets, namespaces: identity, aesgcm (key1 16 bytes, key2 16 bytes), kms v1 (testprovider), aescbc (key1 16 bytes, key2 16 bytes), secretbox (key1 32 bytes)\n"
    );
    let sb = EncryptionConfig::parse(&text("encryption/upstream/secret-box-first.yaml")).unwrap();
    assert!(matches!(sb.rules[0].providers[0], Provider::Secretbox(_)));
    assert_eq!(sb.rules[0].providers.len(), 6);
    let kms = EncryptionConfig::parse(&text("encryption/upstream/multiple-providers-mixed.yaml"))
        .unwrap();
    assert_eq!(kms.describe(), "secrets: kms v2 (foo), kms v1 (bar)\n");
    let json =
        EncryptionConfig::parse(&text("encryption/upstream/aes-cbc-multiple-keys.json")).unwrap();
    assert_eq!(
        json.describe(),
        "ignored: aescbc (A 32 bytes, B 32 bytes)\n"
    );
    let e = EncryptionConfig::parse(&text("encryption/upstream/invalid-aes-gcm.yaml")).unwrap_err();
    assert_eq!(
        (e.line, e.path.as_str()),
        (8, "resources[0].providers[0].aesgcm.keys")
    );
}

fn bad(config: &str) -> ConfigError {
    match EncryptionConfig::parse(config) {
        Ok(c) => panic!("accepted:\n{config}\n{}", c.describe()),
        Err(e) => e,
    }
}

const K16: &str = "c2VjcmV0IGlzIHNlY3VyZQ==";
const K32: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=";

#[test]
fn bad_configurations_name_line_and_field() {
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n";
    let cases: Vec<(String, usize, &str, &str)> = vec![
        (
            format!("{head}      - aescbc:\n          keys:\n            - name: k\n              secret: YWJjZGVmZ2hpams=\n"),
            10,
            "resources[0].providers[0].aescbc.keys[0].secret",
            "is 11 bytes, must be 16, 24 or 32",
        ),
        (
            format!("{head}      - secretbox:\n          keys:\n            - name: k\n              secret: {K16}\n"),
            10,
            "resources[0].providers[0].secretbox.keys[0].secret",
            "16 bytes, must be 32",
        ),
        (
            format!("{head}      - aesgcm:\n          keys:\n            - name: k\n              secret: not*base64\n"),
            10,
            "resources[0].providers[0].aesgcm.keys[0].secret",
            "base64",
        ),
        (
            format!("{head}      - aesgcm:\n          keys:\n            - secret: {K16}\n"),
            9,
            "resources[0].providers[0].aesgcm.keys[0].name",
            "missing",
        ),
        (
            format!("{head}      - identity: {{}}\n      - aesgmc:\n          keys: []\n"),
            8,
            "resources[0].providers[1]",
            "found aesgmc",
        ),
        (
            format!("{head}      - identity: {{}}\n        aescbc:\n          keys: [{{name: k, secret: {K32}}}]\n"),
            9,
            "resources[0].providers[0]",
            "more than one provider",
        ),
        (
            format!("{head}      - identity: {{}}\n\t- aescbc: {{}}\n"),
            8,
            "",
            "tab",
        ),
        (
            format!("{head}      - identity: {{}}\n     - identity: {{}}\n"),
            8,
            "",
            "indentation",
        ),
        (
            "resources:\n  - resources: [secrets,\n      configmaps\n    providers:\n      - identity: {}\n".to_string(),
            4,
            "",
            "expected ',' or ']'",
        ),
        (
            "resources:\n  - resources: [secrets, configmaps\n".to_string(),
            2,
            "",
            "unclosed",
        ),
        (
            format!("{head}      - aescbc:\n          keys:\n            - name: \"k\n"),
            9,
            "",
            "unterminated",
        ),
        ("kind: Pod\nresources: []\n".to_string(), 1, "kind", "not EncryptionConfiguration"),
        ("# nothing\n---\n".to_string(), 1, "", "empty"),
        ("apiVersion: v1\n".to_string(), 1, "resources", "missing"),
        (
            format!("{head}      - identity: {{}}\n    providers: []\n"),
            8,
            "",
            "duplicate key \"providers\"",
        ),
        (
            format!("{head}      - aescbc:\n          keys:\n            - name: k\n              secret: |\n                {K16}\n"),
            10,
            "",
            "block scalars",
        ),
        (
            "{\n  \"resources\": [\n    {\"resources\": [\"secrets\"],\n     \"providers\": [{\"aescbc\": {\"keys\": [{\"name\": \"k\", \"secret\": \"QUJD\"}]}}]}\n  ]\n}\n".to_string(),
            4,
            "resources[0].providers[0].aescbc.keys[0].secret",
            "3 bytes",
        ),
        (
            "{\n  \"resources\": [\n    {\"resources\": [\"secrets\"]\n     \"providers\": []}\n  ]\n}\n".to_string(),
            4,
            "",
            "expected ',' or '}'",
        ),
        (
            "resources:\n- resources:\n  - secrets\n".to_string(),
            2,
            "resources[0].providers",
            "missing",
        ),
        (
            "resources:\n- providers:\n  - identity: {}\n".to_string(),
            2,
            "resources[0].resources",
            "no resources",
        ),
        (
            "resources: secrets\n".to_string(),
            1,
            "resources",
            "expected a list",
        ),
    ];
    for (cfg, line, path, message) in cases {
        let e = bad(&cfg);
        assert_eq!(e.line, line, "{e}\n{cfg}");
        assert_eq!(e.path, path, "{e}\n{cfg}");
        assert!(e.message.contains(message), "{e}\n{cfg}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
}

#[test]
fn secrets_are_never_shown() {
    let t = text("encryption/config.yaml");
    let secrets: Vec<String> = t
        .lines()
        .filter_map(|l| l.split("secret: ").nth(1))
        .map(|s| {
            s.split(['"', '\'', ' ', '}'])
                .find(|p| p.len() > 8)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(secrets.len(), 7);
    let cfg = config();
    let shown = format!("{cfg:?}\n{}", cfg.describe());
    for s in &secrets {
        assert!(!shown.contains(s.as_str()), "{s} shown");
    }
    // Errors about a secret name the field, not the value.
    let e = bad("resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: k, secret: 'c2VjcmV0IGlzIHNlY3VyZQ== trailing'}]}\n");
    assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    let e = bad("resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: k, secret: 'c2VjcmV0IGlzIHNlY3VyZQ==' x}]}\n");
    assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
}

#[test]
fn yaml_forms_real_files_use() {
    // Sequences at the key's indentation, compact `- key:` maps, quoted keys, comments, CRLF,
    // flow maps over lines, `...`.
    let cfg = format!(
        "%YAML 1.2\r\n---   # doc\r\n\"kind\": 'EncryptionConfiguration'\r\nresources:\r\n- resources: ['secrets', \"configmaps\", '*.*']   # all\r\n  providers:\r\n  - aescbc:\r\n      keys:\r\n      - {{ name: a,\r\n           secret: \"{K32}\" }}\r\n      - name: 'b:c'\r\n        secret: {K16}\r\n\r\n  - identity:   {{}}\r\n...\r\nignored: [\r\n"
    );
    let c = EncryptionConfig::parse(&cfg).unwrap();
    assert_eq!(
        c.describe(),
        "secrets, configmaps, *.*: aescbc (a 32 bytes, b:c 16 bytes), identity\n"
    );
    // A second document is not read.
    let two =
        "resources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n---\nresources: 5\n";
    assert_eq!(
        EncryptionConfig::parse(two).unwrap().describe(),
        "secrets: identity\n"
    );
}

#[test]
fn hostile_configurations_never_panic() {
    let yaml = text("encryption/config.yaml");
    let json = text("encryption/config.json");
    for t in [&yaml, &json] {
        for cut in 0..t.len() {
            if t.is_char_boundary(cut) {
                let _ = EncryptionConfig::parse(&t[..cut]);
            }
        }
        let b = t.as_bytes();
        let specials = b"-:[]{}'\"# \t\n,\\|>&*!?";
        for i in (0..b.len()).step_by(3) {
            for &s in specials {
                let mut g = b.to_vec();
                g[i] = s;
                if let Ok(s) = String::from_utf8(g) {
                    let _ = EncryptionConfig::parse(&s);
                }
            }
        }
    }
    for t in [
        "[".repeat(10_000),
        "{a: ".repeat(10_000),
        "- ".repeat(10_000),
        "a:\n ".repeat(2_000),
        "\"\\u".to_string(),
        "'".to_string(),
        "\u{feff}".to_string(),
        "a: \"\\x\u{e9}\"".to_string(),
    ] {
        let _ = EncryptionConfig::parse(&t);
    }
}
