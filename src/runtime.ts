import v8 from 'node:v8';

/**
 * V8 settings for the serving process, applied before anything else is loaded (main.ts imports this
 * first). WebAssembly is compiled by Liftoff only: undici parses HTTP with llhttp compiled to wasm,
 * and TurboFan compiling it on the first outbound request took ~32 MB of native memory for a moment
 * (peak RSS 63 → 97 MB in a bare process); Liftoff's code parses a delivery's few response bytes as
 * fast as it matters. The heap flags (`--max-semi-space-size`, `--heap-growing-percent`) must be on
 * the command line, before the heap exists: see `npm start`.
 */
v8.setFlagsFromString('--liftoff-only');
