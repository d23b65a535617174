//! The worker: every byte of the user's data is read and parsed here, off the UI thread.
//! It reads a `File` by slices ([`web::blob::BlobSource`]) and answers with JSON text.

#[cfg(target_arch = "wasm32")]
mod imp {
    use js_sys::{Object, Reflect};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent};

    use web::blob::{BlobSource, CacheConfig};
    use web::protocol;
    use web::report;

    /// The sample behind "Try a sample": a real etcd 3.4.23 snapshot (tests/fixtures/v3/basic).
    static SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/v3/basic/snapshot.db");

    fn reply(fields: &[(&str, JsValue)]) -> JsValue {
        let obj = Object::new();
        for (k, v) in fields {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&obj, &JsValue::from_str(k), v);
        }
        obj.into()
    }

    fn field(data: &JsValue, name: &str) -> JsValue {
        Reflect::get(data, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }

    fn answer(name: &str, result: Result<report::Summary, String>) -> JsValue {
        let json = result
            .and_then(|s| serde_json::to_string_pretty(&s).map_err(|e| format!("{name}: {e}")));
        match json {
            Ok(json) => reply(&[
                ("kind", protocol::SUMMARY.into()),
                ("name", name.into()),
                ("json", json.into()),
            ]),
            Err(message) => reply(&[
                ("kind", protocol::FAILED.into()),
                ("name", name.into()),
                ("message", message.into()),
            ]),
        }
    }

    fn handle(data: JsValue) -> JsValue {
        let kind = field(&data, "kind").as_string().unwrap_or_default();
        match kind.as_str() {
            protocol::OPEN_SAMPLE => answer(
                web::SAMPLE_NAME,
                report::summarize(web::SAMPLE_NAME, SAMPLE),
            ),
            protocol::OPEN_FILE => {
                let name = field(&data, "name").as_string().unwrap_or_default();
                let Ok(blob) = field(&data, "file").dyn_into::<Blob>() else {
                    return answer(&name, Err("the message carried no file".into()));
                };
                let result = BlobSource::new(blob, CacheConfig::default())
                    .map_err(|e| format!("{name}: {e}"))
                    .and_then(|src| report::summarize(&name, src));
                answer(&name, result)
            }
            other => answer("", Err(format!("unknown request {other:?}"))),
        }
    }

    pub fn start() {
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(&format!("etcdscope worker panicked: {info}").into());
        }));
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let out = scope.clone();
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let answer = handle(ev.data());
            if let Err(e) = out.post_message(&answer) {
                web_sys::console::error_1(&e);
            }
        });
        scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        // The handler lives as long as the worker.
        onmessage.forget();
        let _ = scope.post_message(&reply(&[("kind", protocol::READY.into())]));
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    imp::start();
}
