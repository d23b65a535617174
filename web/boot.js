// Starts the app without an inline script (the page's CSP allows scripts from 'self' only).
// Trunk writes the hashed names of the app's JS glue and wasm into this tag's data attributes.
const tag = document.querySelector("script[data-app-js]");
const glue = await import(tag.dataset.appJs);
await glue.default({ module_or_path: tag.dataset.appWasm });
