//! The core crates compiled to wasm32 and run in Node (wasm-bindgen-test's default): the same
//! reader, writer, rewrite, SQL and archive code the page's worker runs, on the real etcd 3.4.23
//! sample, checked against etcdctl's recorded answers.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

use web::session::Session;

static SAMPLE: &[u8] = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");

#[wasm_bindgen_test]
fn status_equals_etcdctl_in_wasm() {
    let s = Session::open_v3("sample", SAMPLE).unwrap();
    let sum = s.summary().unwrap();
    // etcdctl snapshot status -w json: {"hash":1237376902,"revision":359,"totalKey":338,...}
    assert_eq!(sum["status"]["hash"], 1237376902u32);
    assert_eq!(sum["status"]["revision"], 359);
    assert_eq!(sum["status"]["totalKey"], 338);
    assert_eq!(sum["status"]["trailer"]["state"], "ok");
}

#[wasm_bindgen_test]
fn tree_value_and_search_in_wasm() {
    let mut s = Session::open_v3("sample", SAMPLE).unwrap();
    let root = s.children(b"", 0, 10).unwrap();
    assert!(root["total"].as_u64().unwrap() > 1);
    let v = s.value(b"/big/value-200k", &Default::default()).unwrap();
    assert_eq!(v["size"], 204800);
    let re = s
        .search("regex", r"^/app/config/(api|web)/env$", 0, 10)
        .unwrap();
    assert_eq!(re["total"], 2);
}

#[wasm_bindgen_test]
fn rewrite_and_sql_in_wasm() {
    let s = Session::open_v3("sample", SAMPLE).unwrap();
    let mut out = Vec::new();
    s.snapshot(true, false, &mut out).unwrap();
    assert_eq!(out.len() % 512, 32, "SHA-256 trailer");
    let again = Session::open_v3("again", out.as_slice()).unwrap();
    assert_eq!(again.summary().unwrap()["status"]["revision"], 359);
    let mut sql = Vec::new();
    s.sql("sqlite", "kine", false, &mut sql).unwrap();
    assert!(String::from_utf8(sql).unwrap().contains("CREATE TABLE"));
}

/// The typed Kubernetes decoder as wasm: upstream's Pod decodes to upstream's YAML, byte for byte.
#[wasm_bindgen_test]
fn kubernetes_object_decodes_in_wasm() {
    let pb = include_bytes!("../../crates/kube/tests/data/core.v1.Pod.pb");
    let want = include_str!("../../crates/kube/tests/data/core.v1.Pod.yaml");
    let o = kube::object::decode(b"/registry/pods/default/p", pb, &Default::default());
    assert!(o.notes.is_empty(), "{:?}", o.notes);
    assert_eq!(kube::yaml::to_yaml(&o.json.unwrap()), want);
    // A Secret is masked unless revealed.
    let secret = include_bytes!("../../crates/kube/tests/data/core.v1.Secret.pb");
    let o = kube::object::decode(b"/registry/secrets/default/s", secret, &Default::default());
    assert_eq!(o.json.unwrap()["data"]["dataKey"], "<masked: 1 bytes>");
}

#[wasm_bindgen_test]
fn damaged_input_is_an_error_in_wasm() {
    let torn = &SAMPLE[..SAMPLE.len() / 3];
    let r = Session::open_v3("torn.db", torn).and_then(|s| s.summary());
    let e = r.err().expect("a torn file is an error");
    assert!(e.contains("torn.db"), "{e}");
}
