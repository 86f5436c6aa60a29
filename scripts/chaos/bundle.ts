// The worker as one ES module: a forked worker then starts in a few hundred
// milliseconds instead of the seconds tsx needs to compile the workspace's
// TypeScript, so a kill every ~300 ms still leaves most workers working.
// The bundle lives under node_modules/.cache, where Node resolves the native
// drivers (kept external) from the workspace root.
import { mkdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../", import.meta.url))

export interface Bundle {
  readonly file: string
  readonly remove: () => void
}

/** Bundles worker.ts into a directory of this process's own. */
export const bundleWorker = async (): Promise<Bundle> => {
  const dir = join(root, "node_modules/.cache/durably-chaos", `${process.pid}-${Date.now().toString(36)}`)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, "worker.mjs")
  const { build } = await import("esbuild")
  await build({
    entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minifyWhitespace: true,
    external: ["better-sqlite3", "pg", "pg-native"],
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: "warning"
  })
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
