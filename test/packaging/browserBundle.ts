// Bundles `import { createDurably, defineJob } from "durably"` as a browser app
// would (esbuild, platform "browser": the "browser" condition, never "node")
// and lists what in the bundle only Node has.
import { build } from "esbuild"

export interface BrowserBundle {
  /** Every module in the bundle, as esbuild names it. */
  readonly inputs: ReadonlyArray<string>
  /** Inputs and imports that are Node built-ins, native or Node-only drivers, or `@durably/node`. */
  readonly nodeOnly: ReadonlyArray<string>
  readonly bytes: number
}

const nodeOnly = /(^|[/\\])(node:|better-sqlite3|pg|pg-[a-z-]+|@durably[/\\]node|packages[/\\]node[/\\])([/\\]|$)|^node:/

/** Bundles the entry resolved from `resolveDir` (inputs are named relative to it); a failure to resolve (e.g. `node:fs`) rejects. */
export const bundleForBrowser = async (resolveDir: string): Promise<BrowserBundle> => {
  const result = await build({
    stdin: {
      contents: `import { createDurably, defineJob } from "durably"\nexport { createDurably, defineJob }\n`,
      resolveDir,
      loader: "js"
    },
    absWorkingDir: resolveDir,
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent"
  })
  const inputs = Object.keys(result.metafile.inputs)
  const imported = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((entry) => entry.path))
  return {
    inputs,
    nodeOnly: [...new Set([...inputs, ...imported])].filter((path) => nodeOnly.test(path)),
    bytes: result.outputFiles.reduce((total, file) => total + file.contents.byteLength, 0)
  }
}
