//! The worker's byte source in a real browser: headless Chromium (through chromedriver), inside a
//! dedicated worker, reading a `Blob` by slices with `FileReaderSync` — exactly as the page's
//! worker reads a dropped file — and opening it with the core crates.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use storage::ReadAt;
use web::blob::{BlobSource, CacheConfig};
use web::session::Session;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

static SAMPLE: &[u8] = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");

fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = js_sys::Array::new();
    parts.push(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

#[wasm_bindgen_test]
fn blob_source_reads_exact_bytes_across_blocks() {
    // Small blocks so reads cross block boundaries and the cache evicts.
    let cfg = CacheConfig {
        block_size: 4096,
        max_blocks: 3,
    };
    let src = BlobSource::new(blob(SAMPLE), cfg).unwrap();
    assert_eq!(src.size(), SAMPLE.len() as u64);
    for (off, len) in [
        (0usize, 16usize),
        (4090, 20),
        (100_000, 50_000),
        (SAMPLE.len() - 7, 7),
    ] {
        let mut buf = vec![0u8; len];
        src.read_exact_at(off as u64, &mut buf).unwrap();
        assert_eq!(buf, &SAMPLE[off..off + len], "at {off}");
    }
    let mut past = [0u8; 8];
    assert!(src
        .read_exact_at(SAMPLE.len() as u64 - 4, &mut past)
        .is_err());
}

#[wasm_bindgen_test]
fn snapshot_in_a_blob_equals_etcdctl() {
    let src = BlobSource::new(blob(SAMPLE), CacheConfig::default()).unwrap();
    let s = Session::open_v3("blob", src).unwrap();
    let sum = s.summary().unwrap();
    assert_eq!(sum["status"]["hash"], 1237376902u32);
    assert_eq!(sum["status"]["revision"], 359);
}
