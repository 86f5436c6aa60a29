// The browser bench page for this project: the Promise facade on
// `@durably/browser` (SQLite WASM on OPFS in a dedicated worker), bundled by
// Vite from the workspace sources.
import { DurablyBrowser } from "@durably/browser"
import { createDurably, defineJob } from "durably"
// A namespace import, as in the Node driver, so the bundle keeps only the zod it uses.
import * as z from "zod"
import { expose } from "../workloads.js"

expose(async ({ maxConcurrentRuns, pollingIntervalMs }) => {
  const job = defineJob({
    name: "bench",
    input: z.object({ i: z.number(), k: z.number() }),
    run: async (step, input) => {
      for (let s = 0; s < input.k; s++) await step.run(`s${s}`, async () => s)
    }
  })
  const durably = createDurably({
    database: DurablyBrowser.database({ name: "bench" }),
    pollingIntervalMs,
    preserveSteps: false,
    maxConcurrentRuns,
    jobs: { bench: job }
  })
  await durably.migrate()
  return {
    trigger: (input) => durably.jobs.bench.trigger(input),
    batchTrigger: (inputs) => durably.jobs.bench.batchTrigger(inputs.map((input) => ({ input }))),
    start: () => durably.start(),
    onComplete: (listener) => durably.on("run:complete", listener),
    countCompleted: async () => (await durably.getRuns({ status: "completed" })).length,
    close: () => durably.dispose()
  }
})
