// Loads the worker's wasm-bindgen glue (no-modules target) and starts it.
importScripts("./worker.js");
wasm_bindgen({ module_or_path: "./worker_bg.wasm" });
