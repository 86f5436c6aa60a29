// The worker: the polling loop that claims runs of this engine's jobs and
// launches their executions (up to `maxConcurrentRuns` at once), the ticker
// that gives long runs their renewal fiber, retention, and shutdown.
import type { Context, Fiber, Scope } from "effect"
import { Clock, Duration, Effect, Fiber as F, Option, Queue } from "effect"
import type { CorruptRowError, StoreError } from "../DurablyError.js"
import type { EventBus } from "../EventBus.js"
import type { Run } from "../Run.js"
import type { Store } from "../Store.js"
import { Worker } from "../Worker.js"
import { describeFailure } from "./describe.js"
import type { Execution } from "./execution.js"
import { now, start as startExecution } from "./execution.js"
import type { Config } from "./options.js"
import type { Registry } from "./registry.js"

export interface WorkerDeps<R> {
  readonly config: Config
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly context: Context.Context<R>
  readonly registry: Registry
  /** The runs executing in this process, by id. */
  readonly running: Map<string, Execution>
}

const retentionEveryMs = 60_000
const retentionBatch = 100
const longestBackoffMs = 30_000

export const makeWorker = <R>(deps: WorkerDeps<R>): Effect.Effect<
  {
    readonly service: Worker["Type"]
    readonly wake: Effect.Effect<void>
    readonly unsafeWake: () => void
  },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const { bus, config, registry, running, store } = deps
    const wakeUps = yield* Queue.sliding<void>(1)
    const slots = yield* Effect.makeSemaphore(config.maxConcurrentRuns)
    let loop: Fiber.RuntimeFiber<never> | undefined

    const reportError = (error: unknown, runId?: string) =>
      Effect.flatMap(now, (timestamp) =>
        bus.publish({
          type: "worker:error",
          timestamp,
          error: describeFailure(error),
          ...(runId === undefined ? {} : { runId })
        })
      )

    /** Claims the next run of a job known here; a corrupt row was already failed by the store, so report it and go on. */
    const claimNext: Effect.Effect<Option.Option<Run>, StoreError> = Effect.suspend(() =>
      store.claim({ workerId: config.workerId, leaseMs: config.leaseMs, jobNames: registry.names() })
    ).pipe(
      Effect.catchTag("CorruptRowError", (error: CorruptRowError) =>
        Effect.zipRight(reportError(error.message, error.runId), claimNext)
      )
    )

    /** Starts executing a claimed run; `onDone` runs once it has finished its writes. */
    const launch = (run: Run, onDone: Effect.Effect<void>) =>
      startExecution(run, registry.jobs.get(run.jobName), deps, {
        started: (execution) => running.set(run.id, execution),
        finished: Effect.zipRight(
          Effect.sync(() => running.delete(run.id)),
          onDone
        )
      })

    const backoff = (failures: number) =>
      Duration.millis(Math.min(config.pollingIntervalMs * 2 ** Math.min(failures, 10), longestBackoffMs))

    // Retention: while idle, at most once a minute, purge a batch of finished runs
    // older than `retainRuns` (no events, as for any maintenance).
    let lastPurgeAt = Number.NEGATIVE_INFINITY
    const retention = Effect.gen(function* () {
      const retainMs = config.retainRunsMs
      const ms = yield* Clock.currentTimeMillis
      if (retainMs === undefined || ms - lastPurgeAt < retentionEveryMs) return
      lastPurgeAt = ms
      yield* store
        .purge({ olderThan: ms - retainMs, limit: retentionBatch })
        .pipe(Effect.catchAll((error) => reportError(error)))
    })

    const pollingLoop = Effect.gen(function* () {
      let failures = 0
      while (true) {
        // Take a slot, claim and launch as one step: an interrupt (stop) lands only
        // while waiting for a slot or after the slot is launched or given back,
        // so it never drops a claimed run or leaks a slot.
        const claimed = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            yield* restore(slots.take(1))
            const result = yield* Effect.either(
              Effect.tap(claimNext, (next) => (Option.isSome(next) ? launch(next.value, slots.release(1)) : Effect.void))
            )
            if (result._tag === "Left" || Option.isNone(result.right)) yield* slots.release(1)
            return result
          })
        )
        if (claimed._tag === "Left") {
          failures++
          yield* reportError(claimed.left)
          yield* Effect.sleep(backoff(failures))
          continue
        }
        failures = 0
        if (Option.isNone(claimed.right)) {
          yield* retention
          yield* Effect.race(Queue.take(wakeUps), Effect.sleep(Duration.millis(config.pollingIntervalMs)))
        }
      }
    })

    // A run's renewal fiber is forked into its scope by this ticker, within half
    // a renewal interval of the run's start (its first renewal is due a whole
    // interval after it): most runs end before then and never pay for the fiber.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(Duration.millis(config.leaseRenewIntervalMs / 2)),
          Effect.suspend(() => Effect.forEach([...running.values()], (execution) => execution.startRenewal, { discard: true }))
        )
      )
    )

    const start = Effect.suspend(() =>
      loop !== undefined
        ? Effect.void
        : Effect.map(Effect.forkDaemon(pollingLoop), (fiber) => {
            loop = fiber
          })
    )

    const stop = Effect.gen(function* () {
      const fiber = loop
      loop = undefined
      if (fiber !== undefined) yield* F.interrupt(fiber)
      const inFlight = [...running.values()]
      // Interruptible even inside a finalizer (the layer closing): an uninterruptible
      // wait would make the timeout wait for the runs instead of cutting them short.
      const drained = yield* Effect.timeoutOption(
        Effect.interruptible(Effect.forEach(inFlight, (execution) => execution.done, { concurrency: "unbounded", discard: true })),
        Duration.millis(config.shutdownTimeoutMs)
      )
      if (Option.isNone(drained)) {
        yield* Effect.forEach([...running.values()], (execution) => execution.stop("shutdown"), {
          concurrency: "unbounded",
          discard: true
        })
      }
    })

    const processOne: Effect.Effect<boolean, StoreError> = Effect.flatMap(claimNext, (next) =>
      Option.isNone(next)
        ? Effect.succeed(false)
        : Effect.as(Effect.flatMap(launch(next.value, Effect.void), (execution) => execution.done), true)
    )

    const processUntilIdle = (limits?: { readonly maxRuns?: number | undefined }) =>
      Effect.gen(function* () {
        let processed = 0
        while (limits?.maxRuns === undefined || processed < limits.maxRuns) {
          if (!(yield* processOne)) break
          processed++
        }
        return processed
      })

    // A wake-up is a signal: when one is already waiting, another adds nothing.
    const unsafeWake = () => void wakeUps.unsafeOffer(undefined)
    const wake = Effect.sync(unsafeWake)

    yield* Effect.addFinalizer(() => stop)
    const service = Worker.of({
      workerId: config.workerId,
      start,
      stop,
      wake,
      processOne,
      processUntilIdle,
      running: Effect.sync(() => [...running.keys()])
    })
    return { service, wake, unsafeWake }
  })
