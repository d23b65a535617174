//! Browser plumbing of the UI thread: error text of thrown JS values, streaming a Blob into a
//! chosen file, the clipboard, walking a dropped folder, key-tree prefixes.

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DragEvent, File};

/// A thrown JS value as text (its name and message).
pub(crate) fn js_text(e: &JsValue) -> String {
    let get = |k: &str| {
        Reflect::get(e, &k.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let (name, message) = (get("name"), get("message"));
    if name.is_empty() && message.is_empty() {
        format!("{e:?}")
    } else {
        format!("{name}: {message}").to_lowercase()
    }
}

/// Streams `blob` into the file behind `handle` (`createWritable`, `blob.stream().pipeTo`).
pub(crate) async fn write_to(handle: &JsValue, blob: &Blob) -> Result<(), JsValue> {
    use wasm_bindgen_futures::JsFuture;
    let call = |obj: &JsValue, method: &str, arg: Option<&JsValue>| -> Result<JsValue, JsValue> {
        let f: js_sys::Function = Reflect::get(obj, &method.into())?.dyn_into()?;
        match arg {
            Some(a) => f.call1(obj, a),
            None => f.call0(obj),
        }
    };
    let writable =
        JsFuture::from(js_sys::Promise::from(call(handle, "createWritable", None)?)).await?;
    let stream = call(blob, "stream", None)?;
    JsFuture::from(js_sys::Promise::from(call(
        &stream,
        "pipeTo",
        Some(&writable),
    )?))
    .await?;
    Ok(())
}

/// Puts text on the clipboard (`navigator.clipboard.writeText`); false when the browser has
/// no clipboard API here.
pub(crate) fn copy_text(t: &str) -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let clip = Reflect::get(&w.navigator(), &"clipboard".into()).unwrap_or(JsValue::UNDEFINED);
    let Ok(write) =
        Reflect::get(&clip, &"writeText".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return false;
    };
    match write.call1(&clip, &t.into()) {
        Ok(p) => {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                // A refusal (no permission) is reported on the console, not thrown here.
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = wasm_bindgen_futures::JsFuture::from(p).await {
                        web_sys::console::warn_1(&e);
                    }
                });
            }
            true
        }
        Err(_) => false,
    }
}

/// The file-system entries of a drop (taken during the event).
pub(crate) fn dropped_entries(e: &DragEvent) -> Vec<web_sys::FileSystemEntry> {
    let Some(items) = e.data_transfer().map(|dt| dt.items()) else {
        return Vec::new();
    };
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter_map(|it| it.webkit_get_as_entry().ok().flatten())
        .collect()
}

/// Every file below the dropped entries, with its path relative to the drop.
pub(crate) async fn walk_entries(
    roots: Vec<web_sys::FileSystemEntry>,
) -> Result<Vec<(String, File)>, String> {
    use wasm_bindgen_futures::JsFuture;
    let err = |e: JsValue| {
        Reflect::get(&e, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let mut out = Vec::new();
    let mut stack: Vec<(web_sys::FileSystemEntry, String)> = roots
        .into_iter()
        .map(|e| {
            let n = e.name();
            (e, n)
        })
        .collect();
    while let Some((entry, path)) = stack.pop() {
        if entry.is_directory() {
            let dir: web_sys::FileSystemDirectoryEntry = entry.unchecked_into();
            let reader = dir.create_reader();
            loop {
                let p = js_sys::Promise::new(&mut |res, rej| {
                    let _ = reader.read_entries_with_callback_and_callback(&res, &rej);
                });
                let batch = Array::from(&JsFuture::from(p).await.map_err(err)?);
                if batch.length() == 0 {
                    break;
                }
                for child in batch.iter() {
                    let child: web_sys::FileSystemEntry = child.unchecked_into();
                    let name = child.name();
                    stack.push((child, format!("{path}/{name}")));
                }
            }
        } else {
            let fe: web_sys::FileSystemFileEntry = entry.unchecked_into();
            let p = js_sys::Promise::new(&mut |res, rej| {
                fe.file_with_callback_and_callback(&res, &rej);
            });
            let file: File = JsFuture::from(p).await.map_err(err)?.unchecked_into();
            out.push((path, file));
        }
        if out.len() > 100_000 {
            return Err("more than 100000 files".into());
        }
    }
    Ok(out)
}

/// The prefix one level up: `/a/b/` → `/a/`, `/a/` → `/`, `/` → `` (base64 in, base64 out).
pub(crate) fn parent_prefix(b64key: &str) -> String {
    let Ok(mut k) = web::session::unb64(b64key) else {
        return String::new();
    };
    k.pop();
    match k.iter().rposition(|&b| b == b'/') {
        Some(i) => web::session::b64_bytes(&k[..=i]),
        None => String::new(),
    }
}
