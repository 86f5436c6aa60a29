// One execution of a claimed run, in its own Scope: a fiber that prepares the
// run, runs the job, and makes the terminal write once the job is over. The
// lease renewal is forked into that scope (`startRenewal`) when the engine's
// ticker finds the run still executing, so a short run never pays for it. The
// fiber is uninterruptible except while it runs the job, and the job is
// interrupted when the lease is lost (a fenced write matched no row), when the
// run is cancelled, or when the worker shuts down; closing the scope stops
// renewal. (The job runs on the execution's own fiber rather than a child: a
// fiber per run less is measurably faster.)
import { Cause, Context, Deferred, Effect, Either, Exit, Fiber, Schema, Scope } from "effect"
import type * as Job from "../Job.js"
import type { Run } from "../Run.js"
import { Step } from "../Step.js"
import { describeFailure } from "./describe.js"
import type { Control, Deps, StopReason } from "./leaseHolder.js"
import { halt, leaseHolder, now } from "./leaseHolder.js"
import { makeStepService } from "./stepService.js"
import type { StepState } from "./stepService.js"
import { finishing } from "./terminal.js"
import { makeUnsavedSteps } from "./unsavedSteps.js"

export type { ExecutionConfig, StopReason } from "./leaseHolder.js"
export { now } from "./leaseHolder.js"

export interface Execution {
  readonly runId: string
  /** Stops the job fiber and waits for the execution to finish; the first reason given wins. */
  readonly stop: (reason: StopReason) => Effect.Effect<void>
  /** Completes when the execution has finished all its writes. */
  readonly done: Effect.Effect<void>
  /**
   * Forks the run's renewal fiber into its scope, if the job runs and it has
   * none yet. The engine calls it for runs that have executed for half a
   * renewal interval: a run that ends before then never needs one.
   */
  readonly startRenewal: Effect.Effect<void>
}

/** What the engine hears from an execution. */
export interface Hooks {
  /** Called with the execution before its fiber starts. */
  readonly started: (execution: Execution) => void
  /** Runs once the execution has finished its writes. */
  readonly finished: Effect.Effect<void>
}

interface ExecutionDeps<R> extends Deps {
  readonly context: Context.Context<R>
}

/**
 * Starts executing `run` on a forked fiber and returns its handle at once.
 * `job` is undefined when no job of that name is registered in this process.
 */
export const start = <R>(
  run: Run,
  job: Job.Any | undefined,
  deps: ExecutionDeps<R>,
  hooks: Hooks
): Effect.Effect<Execution> =>
  Effect.gen(function* () {
    const finished = yield* Deferred.make<void>()
    const control: Control = {
      reason: undefined,
      running: undefined,
      expiresAt: run.leaseExpiresAt?.getTime() ?? 0,
      startRenewal: undefined,
      stepInterrupted: false
    }
    let fiber: Fiber.RuntimeFiber<void> | undefined
    const execution: Execution = {
      runId: run.id,
      stop: (reason) =>
        Effect.zipRight(halt(control, reason), Deferred.await(finished)).pipe(
          Effect.onInterrupt(() => (fiber === undefined ? Effect.void : Fiber.interrupt(fiber)))
        ),
      done: Deferred.await(finished),
      startRenewal: Effect.suspend(() => control.startRenewal ?? Effect.void)
    }
    hooks.started(execution)
    fiber = yield* execute(run, job, deps, control).pipe(
      Effect.ensuring(Effect.zipRight(hooks.finished, Deferred.succeed(finished, undefined))),
      Effect.forkDaemon
    )
    return execution
  })

const execute = <R>(
  run: Run,
  job: Job.Any | undefined,
  deps: ExecutionDeps<R>,
  control: Control
): Effect.Effect<void> => {
  const { bus, config, store } = deps
  const holder = leaseHolder(run, deps, control)
  const { base, heartbeat, lease, renewal, reportError, write } = holder
  const unsaved = makeUnsavedSteps((step) =>
    Effect.zipRight(write(store.persistStep(lease, step.write)), Effect.zipRight(heartbeat, step.stored))
  )
  const finish = finishing(deps, holder, unsaved)

  const failRun = (error: string, failedStepName: string | null) =>
    finish.fail(
      error,
      bus.emit("run:fail", (timestamp) => ({ type: "run:fail", ...base, timestamp, error, failedStepName }))
    )

  // The run's scope: the renewal fiber lives in it, and closing it (however the
  // execution ends) stops renewal.
  const body = (scope: Scope.CloseableScope) =>
    Effect.gen(function* () {
      const leasedAt = yield* now
      yield* bus.emit("run:leased", (timestamp) => ({
        type: "run:leased",
        ...base,
        timestamp,
        leaseOwner: config.workerId,
        leaseExpiresAt: run.leaseExpiresAt ?? leasedAt,
        attempt: run.attempt
      }))
      if (job === undefined) return yield* failRun(`unknown job: ${run.jobName}`, null)

      const decodedInput = yield* Effect.either(Schema.decodeUnknown(job.input)(run.input))
      if (decodedInput._tag === "Left") {
        return yield* failRun(`invalid input: ${describeFailure(decodedInput.left)}`, null)
      }

      const stored = new Map<string, unknown>()
      if (run.attempt > 1) {
        // A run claimed before may have completed steps; a first claim has none.
        const steps = yield* store.getSteps(run.id)
        for (const step of steps) if (step.status === "completed") stored.set(step.name, step.output)
      }
      const state: StepState = { failedStepName: null }
      const stepService = makeStepService(run, deps, control, holder, unsaved, stored, state)

      // The job's own requirements come from the engine's context; `Step` from this execution.
      // The layer's type made its user check that `deps.context` holds every job's requirements.
      const program = Effect.provide(
        job.run(decodedInput.right) as Effect.Effect<unknown, unknown, R | Step>,
        Context.add(deps.context, Step, stepService)
      ) as Effect.Effect<unknown, unknown>

      // From here until the job is over, a stop interrupts this fiber. An interrupt
      // can only land in the job: one sent before it starts waits for it and stops
      // it at once; a stop that came before this point is seen by the check below.
      yield* Effect.withFiberRuntime((fiber) => {
        control.running = fiber
        return Effect.void
      })
      if (control.reason !== undefined) return yield* finish.stopped(control.reason, control.stepInterrupted)
      control.startRenewal = Effect.suspend(() => {
        control.startRenewal = undefined
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(renewal), scope))
      })
      const exit = yield* Effect.exit(Effect.interruptible(program))
      control.running = undefined
      control.startRenewal = undefined
      yield* Scope.close(scope, Exit.void)

      if (control.reason !== undefined) return yield* finish.stopped(control.reason, control.stepInterrupted)
      if (Exit.isSuccess(exit)) {
        const encoded =
          job.output === undefined
            ? Either.right(exit.value)
            : yield* Effect.either(Schema.encodeUnknown(job.output)(exit.value))
        if (encoded._tag === "Left") {
          return yield* failRun(`invalid output: ${describeFailure(encoded.left)}`, null)
        }
        // The claim set `started_at` (on the first claim) and completion leaves it as it is.
        const startedAt = run.startedAt?.getTime() ?? leasedAt.getTime()
        return yield* finish.complete(
          encoded.right,
          bus.emit("run:complete", (timestamp) => ({
            type: "run:complete",
            ...base,
            timestamp,
            output: encoded.right,
            durationMs: timestamp.getTime() - startedAt
          }))
        )
      }
      // Interrupted with no stop reason (the job interrupted itself): leave the lease to expire.
      if (Cause.isInterruptedOnly(exit.cause)) return
      return yield* failRun(describeFailure(Cause.squash(exit.cause)), state.failedStepName)
    })

  // Uninterruptible but for the job itself (it may be started from the worker's
  // uninterruptible claim region, or not).
  return Effect.acquireUseRelease(Scope.make(), body, (scope, exit) => Scope.close(scope, exit)).pipe(
    Effect.catchAllCause((cause) => reportError(Cause.squash(cause))),
    Effect.uninterruptible
  )
}
