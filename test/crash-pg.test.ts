// Real process death on PostgreSQL: a worker process is SIGKILLed in the middle
// of a step, and a second worker process on the same schema resumes the run
// once the dead worker's lease has expired. Step bodies count their
// executions in a file outside the database, so the test sees exactly which
// bodies ran again.
import type { Run } from "@durably/core/Run"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Child } from "./support/processes.js"
import { ChildError, forkChild } from "./support/processes.js"
import { admin, databaseUrl, pgAvailable, uniqueName, withSearchPath } from "./support/postgres.js"
import { tempDir } from "./support/sqlite.js"

const script = fileURLToPath(new URL("./support/children/crash-worker.ts", import.meta.url))
/** The lease the children take (see crash-worker.ts). */
const leaseMs = 1500

interface Execution {
  readonly step: string
  readonly runId: string
  readonly pid: number
}

/** The step bodies that ran, in order, as the counter file recorded them. */
const executions = (counterFile: string): Array<Execution> =>
  existsSync(counterFile)
    ? readFileSync(counterFile, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => {
          const [step = "", runId = "", pid = ""] = line.split(" ")
          return { step, runId, pid: Number(pid) }
        })
    : []

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls the run until it is terminal; a worker process that died meanwhile fails with its stderr. */
const finished = (store: Context.Tag.Service<Store>, runId: string, worker: Child) =>
  Effect.gen(function* () {
    while (true) {
      const run = yield* store.getRun(runId)
      if (run.status === "completed" || run.status === "failed" || run.status === "cancelled") return run
      if (!isAlive(worker.pid)) yield* worker.send({ cmd: "close" })
      yield* Effect.sleep(Duration.millis(50))
    }
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(20),
      onTimeout: () => new ChildError({ message: `run ${runId} did not finish within 20 s` })
    })
  )

/** A fresh schema, dropped when the test's scope closes; its URL. */
const freshSchemaUrl = Effect.map(
  Effect.acquireRelease(
    Effect.promise(async () => {
      const schema = uniqueName("crash")
      await admin(`CREATE SCHEMA "${schema}"`)
      return schema
    }),
    (schema) => Effect.promise(() => admin(`DROP SCHEMA "${schema}" CASCADE`))
  ),
  (schema) => withSearchPath(databaseUrl, schema)
)

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  it.scopedLive(
    "a run whose worker process is SIGKILLed inside its second step is resumed by another process after the lease expires, re-running only the unfinished steps",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const url = yield* freshSchemaUrl
        const counterFile = join(dir, "executions.log")
        const store = Context.get(yield* Layer.build(NodeStore.pg({ url })), Store)
        const { run } = yield* store.enqueue({ jobName: "crash-three-steps", input: { start: 4 } })

        // The first worker claims the run and reports from inside step "second";
        // closing this scope SIGKILLs it there and waits until it has exited.
        const killed = yield* Effect.scoped(
          Effect.map(forkChild(script, ["pg", url, counterFile, "hang"]), (child) => child.pid)
        ).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(30),
            onTimeout: () => new ChildError({ message: "the first worker never reached step second" })
          })
        )
        const killedAt = Date.now()
        expect(isAlive(killed)).toBe(false)
        expect(executions(counterFile)).toEqual([
          { step: "first", runId: run.id, pid: killed },
          { step: "second", runId: run.id, pid: killed }
        ])

        // The dead worker still holds the lease; only step "first" was stored.
        const orphaned = yield* store.getRun(run.id)
        expect(orphaned).toMatchObject({ status: "leased", leaseOwner: `hang-${killed}`, leaseGeneration: 1, attempt: 1 })
        const expiresAt = orphaned.leaseExpiresAt?.getTime() ?? 0
        expect(expiresAt).toBeGreaterThan(killedAt - leaseMs)
        expect((yield* store.getSteps(run.id)).map((step) => [step.name, step.status])).toEqual([["first", "completed"]])

        // A second worker process on the same schema takes the run over once the lease has expired.
        const resumer = yield* forkChild(script, ["pg", url, counterFile, "resume"])
        const done: Run = yield* finished(store, run.id, resumer)
        const resumedAfterMs = Date.now() - killedAt

        expect(done).toMatchObject({ status: "completed", error: null, leaseGeneration: 2, attempt: 2, leaseOwner: null })
        // Step "first" came back from the store (computed by the killed process); the rest ran in the resumer.
        expect(done.output).toEqual({
          value: (4 + 1) * 10 + 3,
          pids: { first: killed, second: resumer.pid, third: resumer.pid }
        })
        expect(done.completedAt?.getTime() ?? 0).toBeGreaterThanOrEqual(expiresAt)

        const ran = executions(counterFile)
        expect(ran).toEqual([
          { step: "first", runId: run.id, pid: killed },
          { step: "second", runId: run.id, pid: killed },
          { step: "second", runId: run.id, pid: resumer.pid },
          { step: "third", runId: run.id, pid: resumer.pid }
        ])
        const count = (step: string) => ran.filter((execution) => execution.step === step).length
        expect({ first: count("first"), second: count("second"), third: count("third") }).toEqual({
          first: 1,
          second: 2,
          third: 1
        })
        expect((yield* store.getSteps(run.id)).map((step) => [step.name, step.index, step.status])).toEqual([
          ["first", 0, "completed"],
          ["second", 1, "completed"],
          ["third", 2, "completed"]
        ])

        // The resumer is still healthy and stops its worker cleanly.
        yield* resumer.send({ cmd: "close" })
        console.log(`[crash-pg] run resumed and completed ${resumedAfterMs} ms after the SIGKILL (lease ${leaseMs} ms)`)
      }),
    60_000
  )
})
