//! sql.js (SQLite compiled to wasm, npm `sql.js` 1.16.0) inside the worker: the `.sqlite`
//! download and the SQL console.
//!
//! The worker's loader puts sql.js's `initSqlJs` in scope (`importScripts("sql-wasm.js")`; the
//! single-file page inlines it). Its wasm is fetched from the page's own origin on first use, or,
//! in the single-file page, given as bytes (`ETCDSCOPE_SQL_WASM_B64`), so nothing is fetched from
//! file://. The database is built by running the SQLite script of `etcdscope export --to sqlite`
//! (etcd schema) in chunks of whole statements.

use std::cell::RefCell;

use base64::Engine;
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = initSqlJs, catch)]
    fn init_sql_js(cfg: &JsValue) -> Result<js_sys::Promise, JsValue>;

    /// `SQL.Database`.
    pub type Database;
    #[wasm_bindgen(method, catch)]
    fn exec(this: &Database, sql: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = export)]
    fn export_bytes(this: &Database) -> Result<Uint8Array, JsValue>;
    #[wasm_bindgen(method, catch, js_name = iterateStatements)]
    fn iterate_statements(this: &Database, sql: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method)]
    fn close(this: &Database);

    type Statement;
    #[wasm_bindgen(method, catch)]
    fn step(this: &Statement) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn get(this: &Statement) -> Result<Array, JsValue>;
    #[wasm_bindgen(method, js_name = getColumnNames)]
    fn column_names(this: &Statement) -> Array;
    #[wasm_bindgen(method)]
    fn free(this: &Statement) -> bool;
}

thread_local! {
    /// The `SQL` module once sql.js is initialized.
    static MODULE: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// Text of a thrown JS value (an `Error`'s message, else its debug form).
pub fn js_error(e: &JsValue) -> String {
    Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Initializes sql.js once (loads its wasm).
async fn module() -> Result<JsValue, String> {
    if let Some(m) = MODULE.with(|m| m.borrow().clone()) {
        return Ok(m);
    }
    let cfg = Object::new();
    let inline = Reflect::get(&js_sys::global(), &"ETCDSCOPE_SQL_WASM_B64".into())
        .ok()
        .and_then(|v| v.as_string());
    if let Some(b64) = inline {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("sql.js wasm: {e}"))?;
        let _ = Reflect::set(
            &cfg,
            &"wasmBinary".into(),
            &Uint8Array::from(bytes.as_slice()),
        );
    } else {
        let locate = Closure::<dyn Fn(String) -> String>::new(|f: String| format!("./{f}"));
        let _ = Reflect::set(&cfg, &"locateFile".into(), locate.as_ref());
        // Called while the module loads; kept for the worker's life (one small closure).
        locate.forget();
    }
    let promise =
        init_sql_js(&cfg).map_err(|e| format!("sql.js is not loaded: {}", js_error(&e)))?;
    let m = JsFuture::from(promise)
        .await
        .map_err(|e| format!("sql.js did not start: {}", js_error(&e)))?;
    MODULE.with(|slot| *slot.borrow_mut() = Some(m.clone()));
    Ok(m)
}

/// A new empty in-memory database.
pub async fn open_memory() -> Result<Database, String> {
    let m = module().await?;
    let ctor = Reflect::get(&m, &"Database".into()).map_err(|e| js_error(&e))?;
    let ctor: js_sys::Function = ctor
        .dyn_into()
        .map_err(|_| "sql.js has no Database constructor".to_string())?;
    let db = Reflect::construct(&ctor, &Array::new()).map_err(|e| js_error(&e))?;
    Ok(db.unchecked_into())
}

impl Database {
    /// The database file's bytes.
    pub fn to_bytes(&self) -> Result<Uint8Array, String> {
        self.export_bytes().map_err(|e| js_error(&e))
    }

    pub fn dispose(&self) {
        self.close();
    }

    /// Runs `sql` (any number of statements); the result of the last statement that returns
    /// columns, at most `limit` rows.
    pub fn query(&self, sql: &str, limit: usize) -> Result<Value, String> {
        let it = self.iterate_statements(sql).map_err(|e| js_error(&e))?;
        let next: js_sys::Function = Reflect::get(&it, &"next".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| "sql.js: no statement iterator".to_string())?;
        let mut result = json!({ "columns": [], "rows": [], "truncated": false, "statements": 0 });
        let mut statements = 0u64;
        loop {
            let step = next.call0(&it).map_err(|e| js_error(&e))?;
            if Reflect::get(&step, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true)
            {
                break;
            }
            let stmt: Statement = Reflect::get(&step, &"value".into())
                .map_err(|e| js_error(&e))?
                .unchecked_into();
            statements += 1;
            let r = run_statement(&stmt, limit);
            stmt.free();
            if let Some(v) = r? {
                result = v;
            }
        }
        result["statements"] = json!(statements);
        Ok(result)
    }
}

/// Steps one statement to the end; its rows (up to `limit`) when it returns columns.
fn run_statement(stmt: &Statement, limit: usize) -> Result<Option<Value>, String> {
    let columns: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|c| c.as_string().unwrap_or_default())
        .collect();
    let mut rows = Vec::new();
    let mut truncated = false;
    while stmt.step().map_err(|e| js_error(&e))? {
        if columns.is_empty() {
            continue;
        }
        if rows.len() >= limit {
            truncated = true;
            break;
        }
        let row = stmt.get().map_err(|e| js_error(&e))?;
        rows.push(Value::Array(row.iter().map(|c| cell(&c)).collect()));
    }
    if columns.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        json!({ "columns": columns, "rows": rows, "truncated": truncated }),
    ))
}

/// A result cell as shown: numbers, text (cut), NULL, BLOBs as `x'…'` (cut) with their size.
fn cell(v: &JsValue) -> Value {
    if v.is_null() || v.is_undefined() {
        return Value::Null;
    }
    if let Some(n) = v.as_f64() {
        // SQLite integers arrive as JS numbers: show them without ".0".
        if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            return json!(n as i64);
        }
        return json!(n);
    }
    if let Some(s) = v.as_string() {
        if s.chars().count() > 500 {
            let cut: String = s.chars().take(500).collect();
            return json!(format!("{cut}… ({} chars)", s.chars().count()));
        }
        return json!(s);
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        let n = a.length() as usize;
        let head = a.subarray(0, n.min(32) as u32).to_vec();
        let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
        return json!(if n > 32 {
            format!("x'{hex}…' ({n} bytes)")
        } else {
            format!("x'{hex}'")
        });
    }
    // BigInt and anything else: its string form.
    json!(js_sys::JsString::from(v.clone())
        .as_string()
        .unwrap_or_default())
}

/// Runs an SQL script written into it, in chunks of whole statements (a chunk ends at a line
/// that ends with `;`; the script's text and blobs are hex literals, so no string holds one).
pub struct ExecSink<'a> {
    db: &'a Database,
    buf: Vec<u8>,
}

impl<'a> ExecSink<'a> {
    const CHUNK: usize = 1 << 20;

    pub fn new(db: &'a Database) -> Self {
        ExecSink {
            db,
            buf: Vec::new(),
        }
    }

    fn run(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk = String::from_utf8_lossy(&self.buf[..upto]).into_owned();
        self.db
            .exec(&chunk)
            .map_err(|e| std::io::Error::other(format!("SQLite: {}", js_error(&e))))?;
        self.buf.drain(..upto);
        Ok(())
    }

    /// Runs what is left.
    pub fn finish(mut self) -> Result<(), String> {
        let n = self.buf.len();
        if n > 0 {
            self.run(n).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl std::io::Write for ExecSink<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            if let Some(end) = self.buf.windows(2).rposition(|w| w == b";\n") {
                self.run(end + 2)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
