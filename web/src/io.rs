//! Suspending I/O for the worker (JSPI), with the synchronous fallback decided here.
//!
//! `web/worker_io.js` runs each request of the page as a `WebAssembly.promising` call where the
//! browser has JSPI. Inside such a call the Rust code may call the imports below: they return a
//! Promise to the engine, which suspends this wasm stack until it settles, so a File is read
//! into one reused buffer (not a fresh ArrayBuffer per read, as with `FileReaderSync`) and an
//! export is written into the file the user chose while it is made.
//!
//! Calling a suspending import outside a promising call traps, so the code asks [`suspend`]
//! first: it runs the call only when the current request was entered through
//! [`enter_request`] with JSPI on and no suspended call is below it; otherwise the caller uses
//! the synchronous path (`FileReaderSync`, Blob parts).

use std::cell::Cell;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Reads bytes `start..end` of `blob` into wasm memory at `ptr`: the count, or -1.
    #[wasm_bindgen(js_namespace = etcdscopeIO, js_name = readAsync)]
    pub(crate) fn read_async(blob: &web_sys::Blob, start: f64, end: f64, ptr: u32) -> f64;
    /// Writes `len` bytes at `ptr` with `writer` (a `WritableStreamDefaultWriter`): 0 or -1.
    #[wasm_bindgen(js_namespace = etcdscopeIO, js_name = writeAsync)]
    pub(crate) fn write_async(writer: &JsValue, ptr: u32, len: u32) -> f64;
    /// Closes (or aborts) `writer`: 0 or -1.
    #[wasm_bindgen(js_namespace = etcdscopeIO, js_name = closeAsync)]
    pub(crate) fn close_async(writer: &JsValue, abort: bool) -> f64;
    /// The message of the last failed async call.
    #[wasm_bindgen(js_namespace = etcdscopeIO, js_name = lastErrorText)]
    pub(crate) fn last_error() -> String;
    /// Whether requests run as promising calls (JSPI available and not turned off).
    #[wasm_bindgen(js_namespace = etcdscopeIO, js_name = jspiOn)]
    fn jspi() -> bool;
}

thread_local! {
    static SUSPENDABLE: Cell<bool> = const { Cell::new(false) };
}

/// Runs a request of the page, entered through the promising export (where there is JSPI).
pub fn enter_request<T>(f: impl FnOnce() -> T) -> T {
    let before = SUSPENDABLE.with(|s| s.replace(jspi()));
    let out = f();
    SUSPENDABLE.with(|s| s.set(before));
    out
}

/// Whether a suspending import may be called now.
pub fn can_suspend() -> bool {
    SUSPENDABLE.with(|s| s.get())
}

/// Runs `call` (which calls one suspending import) when that is allowed here; `None` otherwise.
/// While it is suspended, other code that runs in this instance sees "not allowed".
pub(crate) fn suspend<T>(call: impl FnOnce() -> T) -> Option<T> {
    if !can_suspend() {
        return None;
    }
    SUSPENDABLE.with(|s| s.set(false));
    let out = call();
    SUSPENDABLE.with(|s| s.set(true));
    Some(out)
}

/// A wasm-memory pointer as the imports take it (wasm32 addresses are 32-bit).
pub(crate) fn ptr(p: *const u8) -> u32 {
    p as usize as u32
}
