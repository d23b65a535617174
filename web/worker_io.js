// The worker's message queue and its asynchronous I/O (loaded before the wasm-bindgen glue).
//
// The worker's Rust code is synchronous. Where the browser has JSPI (WebAssembly.Suspending and
// WebAssembly.promising; Chromium 137+), each request runs as a "promising" call, and the Rust
// code may call the imports below, which suspend it until a Promise settles:
//   - readAsync: a slice of a File read with a BYOB stream reader into one reused buffer, then
//     copied into wasm memory (FileReaderSync returns a fresh ArrayBuffer per call, which the
//     garbage collector frees late: hundreds of MB of them while a large file is walked);
//   - writeAsync/closeAsync: an export written into the file the user chose
//     (File System Access), chunk by chunk while it is made, so it never sits in memory whole.
// Without JSPI the Rust code reads with FileReaderSync and collects exports into Blob parts.
//
// Requests run one at a time, in order: a suspended request must not meet another one inside
// the (single-threaded) wasm instance. The Rust side knows whether it may suspend
// (`web::io`): only inside a promising call, never while suspended.
"use strict";
self.etcdscopeIO = (() => {
  const supported = typeof WebAssembly.Suspending === "function" && typeof WebAssembly.promising === "function";
  const io = {
    /// Whether requests may suspend (tests turn it off to exercise the synchronous reads).
    jspi: supported,
    supported,
    /// Counters for tests and benchmarks.
    stats: { asyncReads: 0, readAhead: 0, guessesDropped: 0, asyncWrites: 0, readWaitMs: 0, stalls: 0 },
    lastError: "",
    memory: null,
    pending: null,
    tracked: [],
  };
  const ASYNC_IMPORT = /^__wbg_(readAsync|writeAsync|closeAsync)_/;
  let outScratch = new ArrayBuffer(0);
  const fail = (e) => {
    io.lastError = `${e && e.name ? e.name + ": " : ""}${e && e.message ? e.message : e}`;
    return -1;
  };

  // Reads of a File: one BYOB stream reader per slice, into buffers from a small pool. When a
  // read starts where the previous one ended, the next slice of the same size is read ahead
  // while the wasm code works on this one (the trailer hash, most of a walk).
  const pool = [];
  let ahead = null; // { blob, start, end, p: Promise<{ buf, got }>, ctl }
  let lastEnd = -1;
  const takeBuf = (n) => {
    const i = pool.findIndex((b) => b.byteLength >= n);
    return i >= 0 ? pool.splice(i, 1)[0] : new ArrayBuffer(n);
  };
  const giveBuf = (buf) => { if (pool.length < 4) pool.push(buf); };
  // `ctl.cancel()` ends the read early (a guess not used, a stalled read).
  async function fetchInto(blob, start, end, buf, ctl = {}) {
    const n = end - start;
    const reader = blob.slice(start, end).stream().getReader({ mode: "byob" });
    ctl.cancel = () => { reader.cancel().catch(() => {}); };
    let got = 0;
    try {
      while (got < n) {
        const { value, done } = await reader.read(new Uint8Array(buf, got, n - got));
        if (value) {
          buf = value.buffer;
          got += value.byteLength;
        }
        if (done) break;
      }
    } finally {
      // Done with this slice: the browser ends its read now, not when the stream is collected
      // (open ones pile up, and a later read may then stall).
      reader.cancel().catch(() => {});
      reader.releaseLock();
    }
    return { buf, got };
  }
  // A slice whose stream read has not finished after STALL_MS (reads take milliseconds; the
  // stalls seen came from two streams read at once, see below) is read again another way
  // (`Blob.arrayBuffer`), so a stalled stream never hangs the worker.
  const STALL_MS = 1500;
  const LATE = Symbol("late");
  // What `p` gives, or LATE (counted as a stall, its read cancelled) after STALL_MS.
  async function settled(p, ctl) {
    let timer;
    const late = new Promise((resolve) => { timer = setTimeout(() => resolve(LATE), STALL_MS); });
    const r = await Promise.race([p, late]);
    clearTimeout(timer);
    if (r === LATE) {
      io.stats.stalls++;
      ctl.cancel?.();
    }
    return r;
  }
  async function orStall(p, ctl, blob, start, end) {
    const r = await settled(p, ctl);
    if (r !== LATE) return r;
    const buf = await blob.slice(start, end).arrayBuffer();
    return { buf, got: buf.byteLength };
  }

  // Bytes start..end of `blob` into wasm memory at `ptr`; the count read, or -1 (lastError).
  io.readAsync = async (blob, start, end, ptr) => {
    const n = end - start;
    const t0 = performance.now();
    try {
      let r;
      if (ahead && ahead.blob === blob && ahead.start === start && ahead.end === end) {
        r = await orStall(ahead.p, ahead.ctl, blob, start, end);
        io.stats.readAhead++;
      } else {
        if (ahead) {
          // A guess that was not used: it must be over before the next read starts. Left
          // running beside it, such streams stalled the next read (2–3 stalls of 1.5 s in each
          // summary of a 2 GB db); cancelling it instead left so much garbage behind that the
          // tab's memory rose by 200 MB.
          // If it stalls itself, it is cancelled after STALL_MS. Its buffer goes back to the pool.
          io.stats.guessesDropped++;
          const x = await settled(ahead.p.catch(() => null), ahead.ctl);
          if (x && x !== LATE) giveBuf(x.buf);
        }
        const ctl = {};
        r = await orStall(fetchInto(blob, start, end, takeBuf(n), ctl), ctl, blob, start, end);
      }
      ahead = null;
      io.stats.readWaitMs += performance.now() - t0;
      new Uint8Array(io.memory.buffer, ptr, r.got).set(new Uint8Array(r.buf, 0, r.got));
      giveBuf(r.buf);
      if (start === lastEnd && end < blob.size) {
        const next = Math.min(blob.size, end + n);
        const ctl = {};
        const p = fetchInto(blob, end, next, takeBuf(next - end), ctl);
        p.catch(() => {});
        ahead = { blob, start: end, end: next, p, ctl };
      }
      lastEnd = end;
      io.stats.asyncReads++;
      return r.got;
    } catch (e) {
      ahead = null;
      return fail(e);
    }
  };

  // Writes into the chosen file: up to two chunks in flight (each in its own buffer), so the
  // wasm code makes the next chunk while the browser writes the last one.
  const outPool = [];
  let inFlight = []; // Promises of writes not yet done
  let writeError = null;
  async function drain(max) {
    while (inFlight.length > max) await inFlight.shift();
  }

  // `len` bytes at `ptr` in wasm memory written with `writer` (a WritableStreamDefaultWriter);
  // 0, or -1 (lastError).
  io.writeAsync = async (writer, ptr, len) => {
    try {
      await drain(1);
      if (writeError) throw writeError;
      const i = outPool.findIndex((b) => b.byteLength >= len);
      const buf = i >= 0 ? outPool.splice(i, 1)[0] : new ArrayBuffer(len);
      const view = new Uint8Array(buf, 0, len);
      view.set(new Uint8Array(io.memory.buffer, ptr, len));
      inFlight.push(writer.write(view).then(
        () => { if (outPool.length < 3) outPool.push(buf); },
        (e) => { writeError = writeError ?? e; },
      ));
      io.stats.asyncWrites++;
      return 0;
    } catch (e) {
      return fail(e);
    }
  };

  // Ends a write: close (the file then holds what was written) or abort (the file is left as
  // it was). 0, or -1 (lastError).
  io.closeAsync = async (writer, abort) => {
    try {
      await drain(0);
      const err = writeError;
      writeError = null;
      if (err || abort) {
        await writer.abort().catch(() => {});
        if (err) throw err;
        return 0;
      }
      await writer.close();
      return 0;
    } catch (e) {
      inFlight = [];
      return fail(e);
    }
  };

  io.lastErrorText = () => io.lastError;
  io.jspiOn = () => io.jspi && io.supported;

  // A job the Rust code started (a Promise): the next request waits for it.
  io.track = (p) => { io.tracked.push(p); };

  function wrapImports(imports) {
    for (const ns of Object.values(imports)) {
      for (const k of Object.keys(ns)) {
        if (ASYNC_IMPORT.test(k)) ns[k] = new WebAssembly.Suspending(ns[k]);
      }
    }
  }
  function wrapInstance(result) {
    const instance = result.instance ?? result;
    // Only the worker's own module (sql.js instantiates its wasm through here too).
    if (typeof instance.exports.etcdscope_handle !== "function") return result;
    io.memory = instance.exports.memory;
    if (!supported) return result;
    const handle = WebAssembly.promising(instance.exports.etcdscope_handle);
    const exports = { ...instance.exports, etcdscope_handle: (...args) => { io.pending = handle(...args); } };
    return { module: result.module, instance: { exports } };
  }
  const instantiate = WebAssembly.instantiate;
  const instantiateStreaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiate = async (source, imports) => {
    if (imports && supported) wrapImports(imports);
    const r = await instantiate.call(WebAssembly, source, imports);
    return r instanceof WebAssembly.Instance ? wrapInstance({ instance: r, module: source }) : wrapInstance(r);
  };
  if (instantiateStreaming) {
    WebAssembly.instantiateStreaming = async (source, imports) => {
      if (imports && supported) wrapImports(imports);
      return wrapInstance(await instantiateStreaming.call(WebAssembly, source, imports));
    };
  }

  // One request at a time, in order of arrival.
  let chain = Promise.resolve();
  async function run(data) {
    try {
      if (io.jspi && data && data.saveHandle && typeof data.saveHandle.createWritable === "function") {
        // The export goes into the chosen file as it is made.
        data.saveWriter = (await data.saveHandle.createWritable()).getWriter();
      }
    } catch (e) {
      data.saveWriter = undefined;
      console.warn("etcdscope: cannot write the chosen file directly; it is saved when done", e);
    }
    try {
      wasm_bindgen.etcdscope_handle(data);
      const p = io.pending;
      io.pending = null;
      if (p) await p;
    } catch (e) {
      console.error("etcdscope worker:", e);
      postMessage({ kind: "failed", name: "", message: `the worker failed: ${e}` });
    }
    while (io.tracked.length) {
      try { await io.tracked.shift(); } catch (e) { console.error("etcdscope worker job:", e); }
    }
  }
  io.enqueue = (data, delayMs) => {
    const go = () => { chain = chain.then(() => run(data)); };
    if (delayMs > 0) setTimeout(go, delayMs); else go();
  };

  // Starts the worker: its wasm from `module_or_path`; requests wait for it.
  io.start = (module_or_path) => {
    chain = wasm_bindgen({ module_or_path }).then(() => {}, (e) => {
      console.error("etcdscope worker: wasm failed to start", e);
      postMessage({ kind: "failed", name: "", message: `the worker failed to start: ${e}` });
    });
    self.onmessage = (ev) => io.enqueue(ev.data, 0);
  };
  return io;
})();
