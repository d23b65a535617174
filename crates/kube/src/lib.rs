//! Kubernetes values as kube-apiserver writes them into etcd.
//!
//! * [`raw`]: a schema-less protobuf decoder (field numbers, wire types, nested messages found by
//!   trying to parse), the `k8s\0` envelope (`runtime.Unknown`: apiVersion, kind, raw,
//!   contentEncoding, contentType) and the `k8s:enc:<provider>:<version>:<key>:` prefix of values
//!   encrypted at rest.
//!
//! * [`schema`]: the Kubernetes API schema as static tables (generated from upstream
//!   `generated.proto` and Go struct tags): fields in Go order with JSON names and tag rules.
//! * [`typed`]: a `k8s\0` protobuf value decoded with [`schema`] to the JSON kube-apiserver shows
//!   (Go `encoding/json` rules, special types, unknown fields counted, bounded output).
//! * [`keys`]: `/registry/<resource>/[<namespace>/]<name>` split, with the special prefixes.
//! * [`analyze`]: "what fills my db" — revisions grouped by resource type and namespace.
//! * [`deleted`]: objects deleted but still held in the history, with their last revision.
//! * [`encryption`]: decrypts `k8s:enc:` aescbc, aesgcm and secretbox values with the cluster's
//!   EncryptionConfiguration (YAML or JSON); labels KMS values.
//! * [`object`]: one stored value made readable for every view and export: decrypted, decoded
//!   to JSON, Secret data masked unless revealed.
//! * [`redact`]: `--redact`: Secret values and chosen prefixes taken out of a value for sharing.
//! * [`yaml`]: YAML as `kubectl -o yaml` prints it, from a JSON value.
//!
//! No UI, no I/O: every function takes bytes and never panics, whatever they are.

pub mod analyze;
pub mod deleted;
pub mod encryption;
pub mod keys;
pub mod object;
pub mod raw;
pub mod redact;
pub mod schema;
pub mod typed;
pub mod yaml;
