// The Promise facade on SQLite: the shared suite on a file in a fresh temporary
// folder per test, plus one run on an in-memory database.
import { createDurably, defineJob } from "durably"
import { Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { facadeSuite } from "./facadeSuite.js"

facadeSuite("facade on SQLite (file)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "durably-facade-"))
  return {
    database: join(dir, "durably.db"),
    cleanup: async () => rmSync(dir, { recursive: true, force: true })
  }
})

describe("facade on SQLite (':memory:')", () => {
  it("runs jobs on an in-memory database", async () => {
    const add = defineJob({
      name: "add",
      input: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
      output: Schema.Struct({ sum: Schema.Number }),
      run: async (step, input) => ({ sum: await step.run("add", () => input.a + input.b) })
    })
    const durably = createDurably({ database: ":memory:", jobs: { add }, pollingIntervalMs: 20, preserveSteps: true })
    try {
      await durably.init()
      const result = await durably.jobs.add.triggerAndWait({ a: 2, b: 3 })
      expect(result).toEqual({ id: expect.any(String), output: { sum: 5 }, disposition: "created" })
      expect(await durably.getRuns()).toEqual([expect.objectContaining({ id: result.id, status: "completed" })])
      expect((await durably.getSteps(result.id)).map((step) => step.name)).toEqual(["add"])
    } finally {
      await durably.dispose()
    }
  })
})
