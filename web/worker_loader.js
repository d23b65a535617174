// Loads sql.js (defines initSqlJs; its wasm is fetched only when the SQL console or the .sqlite
// download is first used) and the worker's wasm-bindgen glue (no-modules target), then starts it.
importScripts("./sql-wasm.js", "./worker.js");
wasm_bindgen({ module_or_path: "./worker_bg.wasm" });
