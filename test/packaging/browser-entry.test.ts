// The facade without Node: `durably` bundles for the browser with nothing of
// Node in it, and its default entry runs over a Layer and refuses a file path
// with a ValidationError that says why. On Node (the "node" condition, which
// vitest uses) the same import still opens file paths.
import { NodeStore } from "@durably/node"
import { createDurably as createOnNode, ValidationError as NodeValidationError } from "durably"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { createDurably, defineJob, ValidationError } from "../../packages/durably/src/index.js"
import { bundleForBrowser } from "./browserBundle.js"

const root = fileURLToPath(new URL("../../", import.meta.url))

const double = defineJob({
  name: "double",
  input: z.number(),
  output: z.number(),
  run: async (step, input) => step.run("double", () => input * 2)
})

describe("durably in the browser", () => {
  it("bundles with esbuild for the browser: no node: module, better-sqlite3, pg or @durably/node", async () => {
    const bundle = await bundleForBrowser(root)
    expect(bundle.nodeOnly).toEqual([])
    expect(bundle.inputs).toContain("packages/durably/src/index.ts")
    expect(bundle.inputs).not.toContain("packages/durably/src/node.ts")
    expect(bundle.inputs).toContain("packages/core/src/internal/engine.ts")
  })

  it("the default entry runs a job over a Layer providing SqlClient", async () => {
    const durably = createDurably({ database: NodeStore.sqliteClient({ filename: ":memory:" }), jobs: { double } })
    try {
      await durably.init()
      const { output } = await durably.jobs.double.triggerAndWait(21, { timeout: 10_000 })
      expect(output).toBe(42)
    } finally {
      await durably.dispose()
    }
  })

  it("the default entry refuses a file path or URL with a ValidationError naming Node", () => {
    for (const database of ["jobs.db", ":memory:", "postgres://localhost/db"]) {
      // @ts-expect-error: outside Node `database` is typed as a Layer only.
      const attempt = () => createDurably({ database, jobs: { double } })
      expect(attempt).toThrow(ValidationError)
      expect(attempt).toThrow(/only on Node/)
      try {
        attempt()
      } catch (error) {
        expect((error as InstanceType<typeof ValidationError>).issues).toEqual([
          { path: ["database"], message: expect.stringContaining("in a browser pass DurablyBrowser.database() from @durably/browser") }
        ])
      }
    }
  })

  it("on Node, `durably` is the Node entry: it opens a file path and refuses an empty one", async () => {
    expect(createOnNode).not.toBe(createDurably)
    const durably = createOnNode({ database: ":memory:", jobs: { double } })
    try {
      await durably.init()
      expect((await durably.jobs.double.triggerAndWait(4, { timeout: 10_000 })).output).toBe(8)
    } finally {
      await durably.dispose()
    }
    expect(() => createOnNode({ database: "", jobs: { double } })).toThrow(NodeValidationError)
  })
})
