// Two real worker processes drain one PostgreSQL queue at once: 500 runs of a
// five-step job. Step bodies and completions are counted in files outside the
// database, one set per process, so the test sees every execution of every
// step body and every completion, whichever process did it.
import { SqlClient } from "@effect/sql"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Child } from "./support/processes.js"
import { ChildError, forkChild, isAlive } from "./support/processes.js"
import { freshSchemaUrl, pgAvailable } from "./support/postgres.js"
import { tempDir } from "./support/sqlite.js"

const script = fileURLToPath(new URL("./support/children/drain-worker.ts", import.meta.url))
const runCount = 500
const stepNames = ["s1", "s2", "s3", "s4", "s5"]
const drainTimeout = Duration.seconds(90)

/** The lines of a file written by a child, split on spaces (none when it was never written). */
const records = (file: string): Array<Array<string>> =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => line.split(" "))
    : []


interface Worker {
  readonly child: Child
  readonly stepFile: string
  readonly eventFile: string
}

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  it.scopedLive(
    "two worker processes draining 500 five-step runs complete every run exactly once and never run a step body twice",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const url = yield* freshSchemaUrl("drain")
        const context = yield* Layer.build(NodeStore.pg({ url }))
        const store = Context.get(context, Store)
        const sql = Context.get(context, SqlClient.SqlClient)

        const statusCounts = Effect.map(
          sql<{ status: string; runs: string }>`SELECT status, COUNT(*) AS runs FROM durably_runs GROUP BY status`,
          (rows) => Object.fromEntries(rows.map((row) => [row.status, Number(row.runs)]))
        )

        // Both workers poll the empty queue before any run exists, so neither gets a head start.
        const workers: ReadonlyArray<Worker> = yield* Effect.all(
          [0, 1].map((index) => {
            const stepFile = join(dir, `steps-${index}.log`)
            const eventFile = join(dir, `events-${index}.log`)
            return Effect.map(forkChild(script, [url, stepFile, eventFile]), (child): Worker => ({
              child,
              stepFile,
              eventFile
            }))
          }),
          { concurrency: "unbounded" }
        )

        const startedAt = Date.now()
        const enqueued = yield* store.enqueueBatch(
          Array.from({ length: runCount }, (_, index) => ({ jobName: "drain-five-steps", input: { index } }))
        )
        const runIds = enqueued.map(({ run }) => run.id)
        expect(new Set(runIds).size).toBe(runCount)

        // Wait until every run is completed; a worker process that died meanwhile fails with its stderr.
        const drained = yield* Effect.gen(function* () {
          while (true) {
            const counts = yield* statusCounts
            if ((counts["completed"] ?? 0) >= runCount) return
            for (const { child } of workers) if (!isAlive(child.pid)) yield* child.send({ cmd: "close" })
            yield* Effect.sleep(Duration.millis(100))
          }
        }).pipe(Effect.timeoutOption(drainTimeout))
        if (Option.isNone(drained)) {
          const counts = yield* statusCounts
          return yield* new ChildError({
            message: `not drained within ${Duration.format(drainTimeout)}: ${JSON.stringify(counts)}`
          })
        }
        const drainMs = Date.now() - startedAt

        // Both workers are still healthy; each stops and has written every event before replying.
        yield* Effect.forEach(workers, ({ child }) => child.send({ cmd: "close" }), { concurrency: "unbounded" })

        // The database: every run completed once, on its first lease, with its output.
        const runs = yield* store.getRuns()
        expect(runs).toHaveLength(runCount)
        const outcomes = new Map<string, number>()
        for (const run of runs) {
          const outcome = `${run.status}, lease generation ${run.leaseGeneration}, attempt ${run.attempt}, error ${run.error}`
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
        }
        expect(Object.fromEntries(outcomes)).toEqual({ "completed, lease generation 1, attempt 1, error null": runCount })
        for (const run of runs) {
          const { index } = run.input as { readonly index: number }
          expect(run.output, run.id).toEqual({ index, sum: 5 * index + 10 })
        }

        // The step files: each (run, step) body ran exactly once, all five of a run in one process, in order.
        const ranBy = new Map<string, { readonly pid: number; readonly steps: Array<string> }>()
        const executions = workers.flatMap(({ child, stepFile }) =>
          records(stepFile).map(([runId = "", step = "", pid = ""]) => ({ runId, step, pid: Number(pid), file: child.pid }))
        )
        for (const { file, pid, runId, step } of executions) {
          expect(pid, "a step file is written by its own process only").toBe(file)
          const ran = ranBy.get(runId) ?? { pid, steps: [] }
          expect(ran.pid, `run ${runId} executed in two processes`).toBe(pid)
          ran.steps.push(step)
          ranBy.set(runId, ran)
        }
        const pairs = new Set(executions.map(({ runId, step }) => `${runId} ${step}`))
        expect(executions).toHaveLength(runCount * stepNames.length)
        expect(pairs.size).toBe(runCount * stepNames.length)
        expect([...ranBy.keys()].sort()).toEqual([...runIds].sort())
        for (const [runId, { steps }] of ranBy) expect(steps, runId).toEqual(stepNames)

        // The event files: each run's completion was recorded once, by the process that ran its steps; no worker errors.
        const events = workers.flatMap(({ child, eventFile }) =>
          records(eventFile).map(([kind = "", runId = "", pid = "", ...message]) => ({
            kind,
            runId,
            pid: Number(pid),
            file: child.pid,
            message: message.join(" ")
          }))
        )
        expect(events.filter(({ kind }) => kind !== "complete")).toEqual([])
        const completions = events.map(({ runId }) => runId)
        expect(completions).toHaveLength(runCount)
        expect([...completions].sort()).toEqual([...runIds].sort())
        for (const { file, pid, runId } of events) {
          expect(pid).toBe(file)
          expect(ranBy.get(runId)?.pid, runId).toBe(pid)
        }

        // Both processes did work.
        const share = workers.map(({ child }) => events.filter(({ pid }) => pid === child.pid).length)
        for (const runs of share) expect(runs).toBeGreaterThan(0)
        console.log(
          `[drain-pg] ${runCount} runs x ${stepNames.length} steps drained by 2 processes in ${drainMs} ms (runs per process: ${share.join(" / ")})`
        )
      }),
    120_000
  )
})
