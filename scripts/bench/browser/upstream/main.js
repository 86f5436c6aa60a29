// The browser bench page for upstream @coji/durably 0.15.0 on SQLocal (the
// browser setup its docs give: `sqlocal/kysely`, SQLite's official WASM build
// on its "opfs" VFS, which needs cross-origin isolation). Plain JS: it is
// copied next to its own node_modules (.bench/upstream-browser) and bundled there.
import { createDurably, defineJob } from "@coji/durably"
import { SQLocalKysely } from "sqlocal/kysely"
import * as z from "zod"
import { expose } from "../workloads.ts"

expose(async ({ maxConcurrentRuns, pollingIntervalMs }) => {
  const job = defineJob({
    name: "bench",
    input: z.object({ i: z.number(), k: z.number() }),
    run: async (step, input) => {
      for (let s = 0; s < input.k; s++) await step.run(`s${s}`, async () => s)
    }
  })
  const { dialect } = new SQLocalKysely("bench.sqlite3")
  const durably = createDurably({
    dialect,
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
    close: async () => {
      await durably.stop()
      await durably.db.destroy()
    }
  }
})
