// The database worker as bundlers find it: Vite, webpack 5, Parcel and
// esbuild-based tools see this `new Worker(new URL(…))` and emit the worker
// with its wasm file.
export const defaultWorker = (): Worker =>
  new Worker(new URL("../worker.js", import.meta.url), { type: "module", name: "durably-database" })
