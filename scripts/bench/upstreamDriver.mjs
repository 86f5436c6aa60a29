// The benchmark driver for upstream @coji/durably 0.15.0. Copied next to its
// own node_modules (.bench/upstream) by bench.ts, so plain JS.
import { createDurably, defineJob } from "@coji/durably"
import Database from "better-sqlite3"
import { Kysely, PostgresDialect, SqliteDialect } from "kysely"
import pg from "pg"
import * as z from "zod"
import { runFromArgv } from "./workloads.mjs"

export const makeUpstream = async (spec) => {
  let dialect
  let close = async () => {}
  if (spec.backend.kind === "sqlite") {
    const database = new Database(spec.backend.filename)
    database.pragma("journal_mode = WAL")
    database.pragma(`synchronous = ${spec.backend.synchronous}`)
    database.pragma("busy_timeout = 5000")
    dialect = new SqliteDialect({ database })
  } else {
    const pool = new pg.Pool({ connectionString: spec.backend.url, max: 10 })
    dialect = new PostgresDialect({ pool })
  }
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
    dialect,
    pollingIntervalMs: 10,
    preserveSteps: false,
    maxConcurrentRuns: spec.maxConcurrentRuns ?? 1,
    jobs: { bench: job }
  })
  await durably.migrate()
  return {
    trigger: (input) => durably.jobs.bench.trigger(input),
    batchTrigger: (inputs) => durably.jobs.bench.batchTrigger(inputs.map((input) => ({ input }))),
    start: () => durably.start(),
    stop: () => durably.stop(),
    onComplete: (listener) => durably.on("run:complete", listener),
    countCompleted: async () => (await durably.getRuns({ status: "completed" })).length,
    hasCompleted: async (n) => (await durably.getRuns({ status: "completed", limit: 1, offset: n - 1 })).length === 1,
    close: async () => {
      await durably.stop()
      await durably.db.destroy()
      await close()
    }
  }
}

// Run as a child process (bench.ts): argv[2] is the JSON spec.
await runFromArgv(makeUpstream)
