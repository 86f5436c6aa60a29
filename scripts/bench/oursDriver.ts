// The benchmark driver for this project, through the Promise facade (the same
// door upstream offers), so both sides run identical workload code.
import { createDurably, defineJob } from "durably"
// A namespace import lets a bundler drop the parts of zod the driver never uses.
import * as z from "zod"
// @ts-expect-error: plain JS shared with the upstream driver
import { runFromArgv } from "./workloads.mjs"

/** What the bench hands a driver (the floor takes the backend only). */
export interface Spec {
  readonly backend: { readonly kind: "sqlite"; readonly filename: string; readonly synchronous: "NORMAL" | "FULL" } | { readonly kind: "pg"; readonly url: string }
  readonly maxConcurrentRuns?: number
  readonly onFirstStep?: (i: number) => unknown
}

export const makeOurs = async (spec: Spec) => {
  const job = defineJob({
    name: "bench",
    input: z.object({ i: z.number(), k: z.number() }),
    run: async (step, input) => {
      for (let s = 0; s < input.k; s++) {
        await step.run(`s${s}`, async () => {
          if (s === 0) await spec.onFirstStep?.(input.i)
          return s
        })
      }
    }
  })
  const durably = createDurably({
    database: spec.backend.kind === "sqlite" ? spec.backend.filename : spec.backend.url,
    ...(spec.backend.kind === "sqlite" ? { synchronous: spec.backend.synchronous } : {}),
    pollingIntervalMs: 10,
    preserveSteps: false,
    maxConcurrentRuns: spec.maxConcurrentRuns ?? 1,
    jobs: { bench: job }
  })
  await durably.migrate()
  return {
    trigger: (input: { i: number; k: number }) => durably.jobs.bench.trigger(input),
    batchTrigger: (inputs: ReadonlyArray<{ i: number; k: number }>) =>
      durably.jobs.bench.batchTrigger(inputs.map((input) => ({ input }))),
    start: () => durably.start(),
    stop: () => durably.stop(),
    onComplete: (listener: () => void) => durably.on("run:complete", listener),
    countCompleted: async () => (await durably.getRuns({ status: "completed" })).length,
    hasCompleted: async (n: number) => (await durably.getRuns({ status: "completed", limit: 1, offset: n - 1 })).length === 1,
    close: () => durably.dispose()
  }
}

// Run as a child process (bench.ts): argv[2] is the JSON spec.
await runFromArgv(makeOurs)
