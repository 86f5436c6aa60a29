// The `step` object a Promise job receives. Each call runs the engine's `Step`
// service on a fiber of the job's runtime; the job's AbortSignal interrupts
// those fibers, and the job waits for them, so `step:cancel` and the run's
// terminal event keep their order.
import { Step } from "@durably/core"
import type { Runtime } from "effect"
import { Cause, Context, Effect, Exit, Fiber, Runtime as R } from "effect"
import { toFacadeError } from "./translate.js"

/** What a job's `run` receives as `step`. */
export interface StepContext {
  /** The run being executed. */
  readonly runId: string
  /** Aborted when the run is cancelled, its lease is lost, or the worker shuts down. */
  readonly signal: AbortSignal
  isAborted(): boolean
  throwIfAborted(): void
  /**
   * Runs `fn` as the durable step `name`: its result is stored, and a later
   * execution of the run returns it without calling `fn` again. `fn` gets an
   * AbortSignal that aborts when the run is stopped. Without a result schema,
   * the result must be a JSON value.
   */
  run<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T>
  /** Stores the run's progress and publishes `run:progress`; does not wait. */
  progress(current: number, total?: number, message?: string): void
  /** Stores a log entry (attributed to the running step, if any) and publishes `log:write`; does not wait. */
  readonly log: {
    info(message: string, data?: unknown): void
    warn(message: string, data?: unknown): void
    error(message: string, data?: unknown): void
  }
}

/** A step context plus what the job wrapper needs to finish cleanly. */
export interface Steps {
  readonly context: StepContext
  /** Completes when every progress/log write issued so far has finished. */
  readonly settled: () => Promise<void>
  /** Interrupts every step and write still in flight, and waits for them. */
  readonly interruptAll: Effect.Effect<void>
}

const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("The run was stopped", "AbortError")

export const makeSteps = (runtime: Runtime.Runtime<Step.Step>, runId: string, signal: AbortSignal): Steps => {
  const steps = Context.get(runtime.context, Step.Step)
  const inFlight = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  // Progress and log writes are fire-and-forget but kept in call order; a step
  // starts, and completes, only after the writes issued before it. `pending`
  // counts the writes not finished yet, so a step with none to wait for
  // starts at once.
  let writes: Promise<void> = Promise.resolve()
  let pending = 0

  const fork = <A, E>(effect: Effect.Effect<A, E, Step.Step>): Promise<Exit.Exit<A, E>> =>
    new Promise((resolve) => {
      const fiber = R.runFork(runtime)(effect)
      inFlight.add(fiber)
      fiber.addObserver((exit) => {
        inFlight.delete(fiber)
        resolve(exit)
      })
    })

  /** Runs `next` once the writes issued so far have finished. */
  const afterWrites = <A>(next: () => A | PromiseLike<A>): Promise<A> =>
    pending === 0 ? Promise.resolve(next()) : writes.then(next)

  const write = (effect: Effect.Effect<void, never, Step.Step>): void => {
    if (signal.aborted) return
    pending++
    writes = writes.then(() => fork(effect)).then(() => {
      pending--
    })
  }

  const log = (level: "info" | "warn" | "error") => (message: string, data?: unknown) =>
    write(steps.log(level, message, data))

  const context: StepContext = {
    runId,
    signal,
    isAborted: () => signal.aborted,
    throwIfAborted: () => signal.throwIfAborted(),
    run: <T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> => {
      if (signal.aborted) return Promise.reject(abortReason(signal))
      // The step gets the job's signal: a step is only ever interrupted when its run is stopped.
      // It completes once its result is in and the writes it issued have finished.
      const body = Effect.async<T, unknown>((resume) => {
        new Promise<T>((resolve) => resolve(fn(signal)))
          .then((value) => afterWrites(() => value))
          .then(
            (value) => resume(Effect.succeed(value)),
            (thrown: unknown) => resume(Effect.fail(thrown))
          )
      })
      return afterWrites(() => fork(steps.run(name, body))).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        if (Cause.isInterruptedOnly(exit.cause)) throw abortReason(signal)
        const failure = Cause.failureOption(exit.cause)
        throw failure._tag === "Some" ? toFacadeError(failure.value) : Cause.squash(exit.cause)
      })
    },
    progress: (current, total, message) => write(steps.progress(current, total, message)),
    log: { info: log("info"), warn: log("warn"), error: log("error") }
  }

  return {
    context,
    settled: () => writes,
    interruptAll: Effect.suspend(() => Fiber.interruptAll([...inFlight]))
  }
}
