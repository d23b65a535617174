// Loads sql.js (defines initSqlJs; its wasm is fetched only when the SQL console or the .sqlite
// download is first used), the worker's request queue and async I/O (worker_io.js), and the
// worker's wasm-bindgen glue (no-modules target), then starts it.
importScripts("./sql-wasm.js", "./worker_io.js", "./worker.js");
etcdscopeIO.start("./worker_bg.wasm");
