// One execution of a claimed run, in its own Scope: a fiber that prepares the
// run, runs the job, and makes the terminal write once the job is over. The
// lease renewal is forked into that scope (`startRenewal`) when the engine's
// ticker finds the run still executing, so a short run never pays for it. The fiber is uninterruptible except
// while it runs the job, and the job is interrupted when the lease is lost (a
// fenced write matched no row), when the run is cancelled, or when the worker
// shuts down; closing the scope stops renewal. (The job runs on the execution's
// own fiber rather than a child: a fiber per run less is measurably faster.)
import { Cause, Clock, Context, Deferred, Duration, Effect, Either, Exit, Fiber, FiberId, Schema, Scope } from "effect"
import type { EventOf } from "../DurablyEvent.js"
import type { LeaseLostError, StoreError } from "../DurablyError.js"
import { CorruptRowError, DuplicateStepError } from "../DurablyError.js"
import type { EventBus } from "../EventBus.js"
import type * as Job from "../Job.js"
import type { Run } from "../Run.js"
import { Step } from "../Step.js"
import type { Lease, StepWrite, Store } from "../Store.js"
import { describeFailure } from "./describe.js"

export interface ExecutionConfig {
  readonly workerId: string
  readonly leaseMs: number
  readonly leaseRenewIntervalMs: number
  readonly preserveSteps: boolean
}

/** Why an execution was stopped from outside its job. */
export type StopReason = "lease-lost" | "cancelled" | "shutdown"

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

/** The state an execution shares between its fiber, its renewal fiber and whoever stops it. */
interface Control {
  reason: StopReason | undefined
  /** The execution's fiber, while it runs the job (the only time it can be interrupted). */
  running: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** The lease's expiry as last written (claim, renewal or step write), epoch ms. */
  expiresAt: number
  /** Forks the renewal fiber into the run's scope, while the job runs and until it has been forked. */
  startRenewal: Effect.Effect<void> | undefined
}

interface Deps<R> {
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly config: ExecutionConfig
  readonly context: Context.Context<R>
}

interface Base {
  readonly runId: string
  readonly jobName: string
}

/** A completed step whose result is not stored yet, and the event that follows its write. */
interface Unsaved {
  readonly write: StepWrite
  readonly stored: Effect.Effect<void>
}

interface StepBase extends Base {
  readonly stepName: string
  readonly stepIndex: number
}

/** How long a step write waits before trying a failing store again. */
const storeRetryMs = 250

/** The current time from the `Clock`, as a `Date` (event timestamps). */
export const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

/**
 * Records why the execution stops (the first reason wins) and interrupts the
 * job, if it runs (a job stopping itself, from its own fiber, interrupts itself).
 */
const halt = (control: Control, reason: StopReason): Effect.Effect<void> =>
  Effect.withFiberRuntime((current) => {
    control.reason ??= reason
    const fiber = control.running
    return fiber === undefined || fiber === current ? Effect.void : Fiber.interruptFork(fiber)
  })

/**
 * Starts executing `run` on a forked fiber and returns its handle at once.
 * `job` is undefined when no job of that name is registered in this process.
 */
export const start = <R>(run: Run, job: Job.Any | undefined, deps: Deps<R>, hooks: Hooks): Effect.Effect<Execution> =>
  Effect.gen(function* () {
    const finished = yield* Deferred.make<void>()
    const control: Control = {
      reason: undefined,
      running: undefined,
      expiresAt: run.leaseExpiresAt?.getTime() ?? 0,
      startRenewal: undefined
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

/** The fenced writes of one lease holder, with lease loss and store failures handled. */
const fencedWrites = <R>(run: Run, deps: Deps<R>, control: Control) => {
  const { bus, config, store } = deps
  const lease: Lease = { runId: run.id, generation: run.leaseGeneration }
  const base: Base = { runId: run.id, jobName: run.jobName }

  const reportError = (cause: unknown) =>
    Effect.flatMap(now, (timestamp) =>
      bus.publish({ type: "worker:error", timestamp, error: describeFailure(cause), ...base })
    )

  /** The lease is gone: record why, stop the job, and stop the calling fiber. */
  const lose = Effect.zipRight(halt(control, "lease-lost"), Effect.interrupt)

  /**
   * A fenced write; lease loss stops the job. A failing store is retried until
   * the lease expiry as it stood at the first failure (renewals moving it on
   * must not turn a permanent failure into endless retries).
   */
  const write = <A>(effect: Effect.Effect<A, StoreError | LeaseLostError>, deadline?: number): Effect.Effect<A> =>
    Effect.catchAll(effect, (error) =>
      error._tag === "LeaseLostError"
        ? lose
        : Effect.flatMap(Clock.currentTimeMillis, (ms) => {
            const giveUpAt = deadline ?? control.expiresAt
            return ms + storeRetryMs < giveUpAt
              ? Effect.zipRight(Effect.sleep(Duration.millis(storeRetryMs)), write(effect, giveUpAt))
              : Effect.zipRight(reportError(error), lose)
          })
    )

  /** A step write extended the lease: the next renewal is due one interval later. */
  const heartbeat = Effect.map(Clock.currentTimeMillis, (ms) => {
    control.expiresAt = ms + config.leaseMs
  })

  // Renewal: the next renewal is due one interval after the last heartbeat
  // (claim, renewal or step write); a renewal that keeps failing gives up at the
  // expiry it last wrote, since past that another worker may hold the run.
  const renewal = Effect.gen(function* () {
    while (true) {
      const ms = yield* Clock.currentTimeMillis
      const due = control.expiresAt - config.leaseMs + config.leaseRenewIntervalMs
      if (due > ms) {
        yield* Effect.sleep(Duration.millis(due - ms))
        continue
      }
      const renewed = yield* write(store.renew(lease, config.leaseMs))
      control.expiresAt = renewed
      yield* bus.emit("run:lease-renewed", (timestamp) => ({
        type: "run:lease-renewed",
        ...base,
        timestamp,
        leaseOwner: config.workerId,
        leaseExpiresAt: new Date(renewed)
      }))
    }
  })

  return { lease, base, write, heartbeat, renewal, reportError }
}

const execute = <R>(
  run: Run,
  job: Job.Any | undefined,
  deps: Deps<R>,
  control: Control
): Effect.Effect<void> => {
  const { bus, config, store } = deps
  const { base, heartbeat, lease, renewal, reportError, write } = fencedWrites(run, deps, control)
  const terminal = { deleteSteps: !config.preserveSteps }

  // A completed step's write waits until the job next starts a step, logs,
  // records progress or ends: a step's result is stored before anything that
  // follows it, and the run's last steps need no write of their own when the
  // terminal write deletes step outputs anyway. A crash in between re-executes
  // the step, as a crash between its body and its write always did.
  let unsaved: Array<Unsaved> = []
  /** Whether step results are being written; `written` tells those waiting for them when they are. */
  let writing = false
  let written: Deferred.Deferred<void> | undefined

  const saveOne = (step: Unsaved) =>
    Effect.zipRight(write(store.persistStep(lease, step.write)), Effect.zipRight(heartbeat, step.stored))

  /** Stores the waiting step results in order, after any write of them already in progress. */
  const saveUnsaved: Effect.Effect<void> = Effect.suspend(() => {
    if (writing) {
      written ??= Deferred.unsafeMake<void>(FiberId.none)
      return Effect.zipRight(Deferred.await(written), saveUnsaved)
    }
    const steps = unsaved
    if (steps.length === 0) return Effect.void
    unsaved = []
    writing = true
    return Effect.forEach(steps, saveOne, { discard: true }).pipe(
      Effect.ensuring(
        Effect.suspend(() => {
          writing = false
          const waiting = written
          written = undefined
          return waiting === undefined ? Effect.void : Deferred.succeed(waiting, undefined)
        })
      )
    )
  })

  /** Runs `next` once every completed step before it is stored. */
  const afterSaved = <A, E, R2>(next: Effect.Effect<A, E, R2>): Effect.Effect<A, E, R2> =>
    Effect.suspend(() => (unsaved.length === 0 && !writing ? next : Effect.zipRight(saveUnsaved, next)))

  /**
   * The run's last write (terminal, or a release at shutdown) with the waiting
   * step results: when it deletes step outputs, they are not written at all
   * and only their events follow it; otherwise each is stored before it, with
   * no retries: a failing write goes to the last write's own error handling.
   */
  const withUnsaved = <E>(
    lastWrite: Effect.Effect<void, E>,
    deletesSteps: boolean
  ): Effect.Effect<void, E | StoreError | LeaseLostError> =>
    Effect.suspend(() => {
      const steps = unsaved
      unsaved = []
      if (steps.length === 0) return lastWrite
      const events = Effect.forEach(steps, (step) => step.stored, { discard: true })
      return deletesSteps
        ? Effect.zipRight(lastWrite, events)
        : Effect.zipRight(
            Effect.forEach(steps, (step) => Effect.zipRight(store.persistStep(lease, step.write), step.stored), {
              discard: true
            }),
            lastWrite
          )
    })

  const failRun = (error: string, failedStepName: string | null) =>
    withUnsaved(store.fail(lease, error, terminal), terminal.deleteSteps).pipe(
      Effect.flatMap(() =>
        bus.emit("run:fail", (timestamp) => ({ type: "run:fail", ...base, timestamp, error, failedStepName }))
      ),
      Effect.catchAll((cause) => reportError(cause))
    )

  /** A stop from outside: shutdown hands the run back at once so any worker resumes it; a lost or cancelled lease is not ours to write to any more. */
  const stopped = (reason: StopReason) =>
    reason === "shutdown" ? Effect.ignore(withUnsaved(store.release(lease), false)) : Effect.void

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

      let failedStepName: string | null = null
      let currentStep: string | null = null
      let nextIndex = 0
      const usedNames = new Set<string>()

      const stepService = Step.of({
        runId: run.id,
        jobName: run.jobName,
        run: <A, E, R2, I>(
          name: string,
          effect: Effect.Effect<A, E, R2>,
          options?: { readonly schema?: Schema.Schema<A, I> | undefined }
        ): Effect.Effect<A, E | DuplicateStepError, R2> =>
          Effect.suspend((): Effect.Effect<A, E | DuplicateStepError, R2> => {
            if (usedNames.has(name)) return Effect.fail(new DuplicateStepError({ runId: run.id, stepName: name }))
            usedNames.add(name)
            const stepIndex = nextIndex++
            const schema = options?.schema
            if (stored.has(name)) {
              const output = stored.get(name)
              return schema === undefined
                ? Effect.succeed(output as A)
                : Effect.orDieWith(
                    Schema.decodeUnknown(schema)(output),
                    (error) =>
                      new CorruptRowError({ table: "durably_steps", runId: run.id, detail: `${name}: ${error.message}` })
                  )
            }
            // Events are built only if someone listens for their type.
            const stepEvent = <T extends "step:start" | "step:complete" | "step:fail" | "step:cancel">(
              type: T,
              fields: Omit<EventOf<T>, keyof StepBase | "type" | "timestamp">
            ) =>
              bus.emit(
                type,
                (timestamp) => ({ type, ...base, stepName: name, stepIndex, timestamp, ...fields }) as EventOf<T>
              )
            // The step starts once the steps before it are stored.
            return afterSaved(Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
              currentStep = name
              // One uninterruptible frame around the step's body: an interrupted body
              // (cancel, lost lease, shutdown) reports `step:cancel` from it, since the
              // interrupted fiber runs nothing after the step; the rest is interruptible again.
              return Effect.zipRight(
                stepEvent("step:start", {}),
                Effect.uninterruptibleMask((restore) =>
                  Effect.matchCauseEffect(restore(effect), {
                    onSuccess: (value) => {
                      currentStep = null
                      const completed = (output: unknown) => {
                        unsaved.push({
                          write: { name, index: stepIndex, status: "completed", output, startedAt },
                          stored: stepEvent("step:complete", { output })
                        })
                        return value
                      }
                      return schema === undefined
                        ? Effect.sync(() => completed(value))
                        : Effect.map(Effect.orDie(Schema.encode(schema)(value)), completed)
                    },
                    onFailure: (cause) => {
                      currentStep = null
                      if (Cause.isInterruptedOnly(cause)) {
                        return Effect.zipRight(stepEvent("step:cancel", {}), Effect.failCause(cause))
                      }
                      failedStepName = name
                      const error = describeFailure(Cause.squash(cause))
                      return restore(
                        Effect.gen(function* () {
                          yield* afterSaved(
                            write(store.persistStep(lease, { name, index: stepIndex, status: "failed", error, startedAt }))
                          )
                          yield* heartbeat
                          yield* stepEvent("step:fail", { error })
                          return yield* Effect.failCause(cause)
                        })
                      )
                    }
                  })
                )
              )
            }))
          }),
        progress: (current, total, message) =>
          Effect.gen(function* () {
            const progress = {
              current,
              ...(total === undefined ? {} : { total }),
              ...(message === undefined ? {} : { message })
            }
            yield* afterSaved(write(store.progress(lease, progress)))
            yield* bus.emit("run:progress", (timestamp) => ({ type: "run:progress", ...base, timestamp, progress }))
          }),
        log: (level, message, data) =>
          Effect.gen(function* () {
            const stepName = currentStep
            yield* afterSaved(write(store.log(lease, { stepName, level, message, data })))
            yield* bus.emit("log:write", (timestamp) => ({
              type: "log:write",
              ...base,
              timestamp,
              level,
              message,
              data,
              stepName
            }))
          })
      })

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
      if (control.reason !== undefined) return yield* stopped(control.reason)
      control.startRenewal = Effect.suspend(() => {
        control.startRenewal = undefined
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(renewal), scope))
      })
      const exit = yield* Effect.exit(Effect.interruptible(program))
      control.running = undefined
      control.startRenewal = undefined
      yield* Scope.close(scope, Exit.void)

      if (control.reason !== undefined) return yield* stopped(control.reason)
      if (Exit.isSuccess(exit)) {
        const encoded =
          job.output === undefined
            ? Either.right(exit.value)
            : yield* Effect.either(Schema.encodeUnknown(job.output)(exit.value))
        if (encoded._tag === "Left") {
          return yield* failRun(`invalid output: ${describeFailure(encoded.left)}`, null)
        }
        const completed = yield* Effect.either(withUnsaved(store.complete(lease, encoded.right, terminal), terminal.deleteSteps))
        if (completed._tag === "Left") return yield* reportError(completed.left)
        // The claim set `started_at` (on the first claim) and completion leaves it as it is.
        const startedAt = run.startedAt?.getTime() ?? leasedAt.getTime()
        return yield* bus.emit("run:complete", (timestamp) => ({
          type: "run:complete",
          ...base,
          timestamp,
          output: encoded.right,
          durationMs: timestamp.getTime() - startedAt
        }))
      }
      // Interrupted with no stop reason (the job interrupted itself): leave the lease to expire.
      if (Cause.isInterruptedOnly(exit.cause)) return
      return yield* failRun(describeFailure(Cause.squash(exit.cause)), failedStepName)
    })

  // Uninterruptible but for the job itself (it may be started from the worker's
  // uninterruptible claim region, or not).
  return Effect.acquireUseRelease(Scope.make(), body, (scope, exit) => Scope.close(scope, exit)).pipe(
    Effect.catchAllCause((cause) => reportError(Cause.squash(cause))),
    Effect.uninterruptible
  )
}
