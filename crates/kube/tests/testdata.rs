//! Real kube-apiserver storage bytes (kubernetes/api testdata, see data/SOURCE.md).

use kube::raw::{self, Envelope, FieldValue, Limits};

fn object(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}.pb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn envelopes_name_api_version_and_kind() {
    for (file, api_version, kind) in [
        ("core.v1.Pod", "v1", "Pod"),
        ("core.v1.ConfigMap", "v1", "ConfigMap"),
        ("core.v1.Secret", "v1", "Secret"),
        ("apps.v1.Deployment", "apps/v1", "Deployment"),
    ] {
        let bytes = object(file);
        let Envelope::Kubernetes(u) = raw::envelope(&bytes) else {
            panic!("{file}: not recognized as k8s\\0");
        };
        assert_eq!(u.api_version, api_version, "{file}");
        assert_eq!(u.kind, kind, "{file}");
        assert!(!u.raw.is_empty(), "{file}");
        let d = raw::describe_envelope(&bytes).unwrap();
        assert!(d.contains(&format!("{api_version} {kind}")), "{d}");
    }
}

#[test]
fn raw_objects_decode_to_metadata_fields() {
    for file in [
        "core.v1.Pod",
        "core.v1.ConfigMap",
        "core.v1.Secret",
        "apps.v1.Deployment",
    ] {
        let bytes = object(file);
        let Envelope::Kubernetes(u) = raw::envelope(&bytes) else {
            panic!("{file}");
        };
        let fields = raw::decode(u.raw, Limits::default()).unwrap();
        // Field 1 of every top-level object is ObjectMeta; its field 1 is the name.
        let FieldValue::Message(meta) = &fields[0].value else {
            panic!("{file}: field 1 is {:?}", fields[0].value);
        };
        assert_eq!(fields[0].number, 1);
        assert_eq!(meta[0].number, 1);
        assert_eq!(meta[0].value, FieldValue::String("nameValue"), "{file}");
        // namespace (ObjectMeta field 3)
        assert!(meta
            .iter()
            .any(|f| f.number == 3 && f.value == FieldValue::String("namespaceValue")));
        let view = raw::view(&bytes, Limits::default()).unwrap();
        assert!(view.starts_with("apiVersion: "), "{view}");
        assert!(view.contains("\"nameValue\""), "{view}");
    }
}

#[test]
fn secret_data_and_configmap_values() {
    // Secret.data is map<string, bytes> (field 2: entries {1 key, 2 value}).
    let view = raw::view(&object("core.v1.Secret"), Limits::default()).unwrap();
    assert!(view.contains("kind: Secret"), "{view}");
    let view = raw::view(&object("core.v1.ConfigMap"), Limits::default()).unwrap();
    assert!(view.contains("kind: ConfigMap"), "{view}");
}

#[test]
fn every_prefix_and_flip_of_a_real_value_is_safe() {
    let bytes = object("core.v1.ConfigMap");
    for n in 0..=bytes.len() {
        let _ = raw::view(&bytes[..n], Limits::default());
    }
    let mut b = bytes.clone();
    for i in 0..b.len() {
        for bit in [0x01u8, 0x80] {
            b[i] ^= bit;
            let _ = raw::view(&b, Limits::default());
            b[i] ^= bit;
        }
    }
}

#[test]
fn encrypted_secret_shape() {
    // What the aescbc provider writes: the prefix, then IV + ciphertext.
    let mut v = b"k8s:enc:aescbc:v1:key1:".to_vec();
    v.extend_from_slice(&[0x5a; 48]);
    let view = raw::view(&v, Limits::default()).unwrap();
    assert!(view.contains("provider: aescbc"), "{view}");
    assert!(view.contains("key: key1"), "{view}");
    assert!(view.contains("ciphertext: 48 bytes"), "{view}");
}
