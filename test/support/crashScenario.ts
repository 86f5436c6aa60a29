// Real process death: a worker process is SIGKILLed in the middle of a step,
// and a second worker process on the same store resumes the run once the dead
// worker's lease has expired. Step bodies count their executions in a file
// outside the database, so the test sees exactly which bodies ran again. The
// scenario is shared by the SQLite and PostgreSQL tests; each supplies how to
// build its store and what the child processes are told about it.
import type { Run } from "@durably/core/Run"
import { Store } from "@durably/core/Store"
import { expect } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Option, Scope } from "effect"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Child } from "./processes.js"
import { ChildError, forkChild, isAlive } from "./processes.js"
import { executions } from "./counterFile.js"
import { tempDir } from "./sqlite.js"

const script = fileURLToPath(new URL("./children/crash-worker.ts", import.meta.url))
/** The lease the children take (see crash-worker.ts). */
const leaseMs = 1500



/**
 * Polls the run until it is terminal. A worker process that died meanwhile
 * fails with its stderr; a run still unfinished after 20 s fails with its state
 * and the step bodies that ran.
 */
const finished = (store: Context.Tag.Service<Store>, runId: string, worker: Child, counterFile: string) =>
  Effect.gen(function* () {
    const polled = yield* Effect.timeoutOption(
      Effect.gen(function* () {
        while (true) {
          const run = yield* store.getRun(runId)
          if (run.status === "completed" || run.status === "failed" || run.status === "cancelled") return run
          if (!isAlive(worker.pid)) yield* worker.send({ cmd: "close" })
          yield* Effect.sleep(Duration.millis(50))
        }
      }),
      Duration.seconds(20)
    )
    if (Option.isSome(polled)) return polled.value
    const run = yield* store.getRun(runId)
    const state = { status: run.status, leaseOwner: run.leaseOwner, leaseGeneration: run.leaseGeneration, attempt: run.attempt }
    return yield* new ChildError({
      message: `run ${runId} did not finish within 20 s: ${JSON.stringify(state)}; step bodies run: ${JSON.stringify(executions(counterFile))}`
    })
  })

/** A store for the scenario: the layer the test reads it through, and how the child processes reach it. */
export interface CrashBackend<E> {
  /** The store layer the test itself uses. */
  readonly layer: Layer.Layer<Store, E>
  /** The crash-worker arguments naming the backend and its store, e.g. `["sqlite", filename]`. */
  readonly args: ReadonlyArray<string>
}

/**
 * The SIGKILL-and-resume scenario. `backend` sets up a store for the test,
 * given a temporary directory that lives as long as the test's scope; `label`
 * tags the timing line printed at the end.
 */
export const crashScenario = <E, E2, R>(
  label: string,
  backend: (dir: string) => Effect.Effect<CrashBackend<E>, E2, R>
) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const { layer, args } = yield* backend(dir)
    const counterFile = join(dir, "executions.log")
    const store = Context.get(yield* Layer.build(layer), Store)
    const { run } = yield* store.enqueue({ jobName: "crash-three-steps", input: { start: 4 } })

    // The first worker claims the run and reports from inside step "second", where it hangs. It lives
    // in a scope of its own: closing that scope SIGKILLs it and waits until it has exited.
    const firstScope = yield* Effect.acquireRelease(Scope.make(), (scope) => Scope.close(scope, Exit.void))
    const first = yield* Scope.extend(forkChild(script, [...args, counterFile, "hang"]), firstScope).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(30),
        onTimeout: () => new ChildError({ message: "the first worker never reached step second" })
      })
    )
    expect(executions(counterFile)).toEqual([
      { step: "first", runId: run.id, pid: first.pid },
      { step: "second", runId: run.id, pid: first.pid }
    ])

    // A second worker process polls the same store meanwhile: while the first one lives and renews
    // its lease, the run stays with the first one.
    const resumer = yield* forkChild(script, [...args, counterFile, "resume"])
    yield* Effect.sleep(Duration.millis(leaseMs + 500))
    const held = yield* store.getRun(run.id)
    expect(held).toMatchObject({ status: "leased", leaseOwner: `hang-${first.pid}`, leaseGeneration: 1, attempt: 1 })
    expect(held.leaseExpiresAt?.getTime() ?? 0).toBeGreaterThan((held.startedAt?.getTime() ?? 0) + leaseMs)

    // SIGKILL, inside step "second".
    yield* Scope.close(firstScope, Exit.void)
    const killedAt = Date.now()
    expect(isAlive(first.pid)).toBe(false)

    // The dead worker still holds a live lease; only step "first" was stored.
    const orphaned = yield* store.getRun(run.id)
    expect(orphaned).toMatchObject({ status: "leased", leaseOwner: `hang-${first.pid}`, leaseGeneration: 1, attempt: 1 })
    const expiresAt = orphaned.leaseExpiresAt?.getTime() ?? 0
    expect(expiresAt).toBeGreaterThan(killedAt)
    expect((yield* store.getSteps(run.id)).map((step) => [step.name, step.status])).toEqual([["first", "completed"]])

    // The second worker takes the run over once that lease has expired, and finishes it.
    const done: Run = yield* finished(store, run.id, resumer, counterFile)
    const resumedAfterMs = Date.now() - killedAt

    expect(done).toMatchObject({ status: "completed", error: null, leaseGeneration: 2, attempt: 2, leaseOwner: null })
    // Step "first" came back from the store (computed by the killed process); the rest ran in the resumer.
    expect(done.output).toEqual({
      value: (4 + 1) * 10 + 3,
      pids: { first: first.pid, second: resumer.pid, third: resumer.pid }
    })

    const ran = executions(counterFile)
    expect(ran).toEqual([
      { step: "first", runId: run.id, pid: first.pid },
      { step: "second", runId: run.id, pid: first.pid },
      { step: "second", runId: run.id, pid: resumer.pid },
      { step: "third", runId: run.id, pid: resumer.pid }
    ])
    const count = (step: string) => ran.filter((execution) => execution.step === step).length
    expect({ first: count("first"), second: count("second"), third: count("third") }).toEqual({
      first: 1,
      second: 2,
      third: 1
    })

    const steps = yield* store.getSteps(run.id)
    expect(steps.map((step) => [step.name, step.index, step.status])).toEqual([
      ["first", 0, "completed"],
      ["second", 1, "completed"],
      ["third", 2, "completed"]
    ])
    // Resumed no earlier than the expiry, and promptly after it.
    const resumedAt = steps[1]?.startedAt.getTime() ?? 0
    expect(resumedAt).toBeGreaterThanOrEqual(expiresAt)
    expect(resumedAt - expiresAt).toBeLessThan(5_000)

    // The resumer is still healthy and stops its worker cleanly.
    yield* resumer.send({ cmd: "close" })
    console.log(
      `[${label}] run resumed ${resumedAt - expiresAt} ms after the dead lease expired (${expiresAt - killedAt} ms after the SIGKILL), completed ${resumedAfterMs} ms after the SIGKILL (lease ${leaseMs} ms)`
    )
  })
