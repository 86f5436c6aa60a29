import { defineConfig } from "vite"

export default defineConfig({
  // SQLite's wasm file must stay next to its loader: not pre-bundled.
  optimizeDeps: { exclude: ["@effect/wa-sqlite"] },
  worker: { format: "es" },
  build: { target: "es2022" }
})
