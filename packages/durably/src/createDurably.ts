/**
 * `createDurably`: the Promise door into the Effect engine. Every method runs
 * the matching `Durably` / `Worker` effect on one `ManagedRuntime` and turns
 * its failures into the classes of `errors.ts`; no behaviour lives here.
 */
import { Durably as Engine, EventBus, SqlStore } from "@durably/core"
import type { TriggerOptions, Triggered } from "@durably/core/Durably"
import type { DurablyEvent, EventOf } from "@durably/core/DurablyEvent"
import type * as Job from "@durably/core/Job"
import type { LogEntry, Progress, Run, StepRecord } from "@durably/core/Run"
import type { Disposition, RunFilter, Store } from "@durably/core/Store"
import { Worker } from "@durably/core/Worker"
import type { SqlClient } from "@effect/sql"
import type { Clock, Duration } from "effect"
import { Cause, Effect, Either, Fiber, Layer, ManagedRuntime, Queue, Schema, Scope, Stream } from "effect"
import type { AnyJobDefinition, JobDefinition } from "./defineJob.js"
import { engineJob } from "./defineJob.js"
import { CorruptRowError, DurablyError, StoreError, ValidationError } from "./errors.js"
import type { Database } from "./internal/database.js"
import { clientLayer, isDatabase } from "./internal/database.js"
import type { WithEngine } from "./internal/engineContext.js"
import { engineContext } from "./internal/engineContext.js"
import { settle, toFacadeError } from "./internal/translate.js"

export type { TriggerOptions } from "@durably/core/Durably"
export type { DurablyEvent, EventOf } from "@durably/core/DurablyEvent"
export { eventTypes } from "@durably/core/DurablyEvent"
export type { LogEntry, Progress, Run, RunStatus, StepRecord } from "@durably/core/Run"
export type { Disposition, RunFilter } from "@durably/core/Store"
export type { Database } from "./internal/database.js"

/**
 * Options of `createDurably`: the engine's (`pollingIntervalMs`, `leaseMs`,
 * `leaseRenewIntervalMs`, `maxConcurrentRuns`, `preserveSteps`,
 * `shutdownTimeoutMs`, `workerId`; see `Durably.Options`) plus these.
 */
export interface DurablyOptions<Jobs extends JobDefinitions>
  extends Omit<Engine.Options<Job.Standalone>, "jobs" | "autoStart" | "retainRuns"> {
  /** A SQLite file path, `":memory:"`, a `postgres://` URL, or a Layer providing `SqlClient`. */
  readonly database: Database
  readonly jobs?: Jobs | undefined
  /** Purge finished runs older than this: `"30d"`, `"12h"`, `"15m"`, or milliseconds. Default: keep them. */
  readonly retainRuns?: string | number | undefined
  /** SQLite only: `NORMAL` (default) survives process crashes, `FULL` also power loss. */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
}

/** Job definitions by the key their handles get in `durably.jobs`. */
export type JobDefinitions = Record<string, AnyJobDefinition>

/** A run whose `output` has the job's output type. */
export type TypedRun<Output> = Omit<Run, "output"> & { readonly output: Output | null }

/** A triggered run and how the trigger was resolved. */
export type TriggerResult<Output> = TypedRun<Output> & { readonly disposition: Disposition }

/** Options of `waitForRun` and `triggerAndWait`. */
export interface WaitForRunOptions {
  /** Give up after this many milliseconds (`WaitTimeoutError`); the run goes on. */
  readonly timeout?: number | undefined
  readonly onProgress?: ((progress: Progress) => void | Promise<void>) | undefined
  readonly onLog?: ((log: EventOf<"log:write">) => void | Promise<void>) | undefined
}

export interface TriggerAndWaitResult<Output> {
  readonly id: string
  readonly output: Output
  readonly disposition: Disposition
}

/** What `durably.jobs.x` offers for one job. */
export interface JobHandle<Name extends string, Input, Output> {
  readonly name: Name
  trigger(input: Input, options?: TriggerOptions): Promise<TriggerResult<Output>>
  triggerAndWait(input: Input, options?: TriggerOptions & WaitForRunOptions): Promise<TriggerAndWaitResult<Output>>
  /** Triggers all in one transaction; results in input order. */
  batchTrigger(
    items: ReadonlyArray<{ readonly input: Input; readonly options?: TriggerOptions | undefined }>
  ): Promise<Array<TriggerResult<Output>>>
  /** The run if it exists and belongs to this job, else `null`. */
  getRun(runId: string): Promise<TypedRun<Output> | null>
  getRuns(filter?: Omit<RunFilter, "jobName">): Promise<Array<TypedRun<Output>>>
}

type HandleOf<D> = D extends JobDefinition<infer Name, infer Input, infer Output> ? JobHandle<Name, Input, Output> : never

/** The handles for a set of job definitions, by the same keys. */
export type JobHandles<Jobs extends JobDefinitions> = { readonly [K in keyof Jobs]: HandleOf<Jobs[K]> }

export type EventType = DurablyEvent["type"]
export type Listener<T extends EventType> = (event: EventOf<T>) => void

/** A Durably instance. */
export interface Durably<Jobs extends JobDefinitions> {
  readonly jobs: JobHandles<Jobs>
  /** Runs the migrations, then starts the worker. */
  init(): Promise<void>
  /** Opens the database and runs the migrations (once). */
  migrate(): Promise<void>
  /** Starts the worker's polling loop. */
  start(): Promise<void>
  /** Stops the worker: waits up to `shutdownTimeoutMs` for in-flight runs, then interrupts them. */
  stop(): Promise<void>
  /** Stops the worker and closes the database; the instance is unusable afterwards. */
  dispose(): Promise<void>
  /** Adds jobs; returns their handles (also put on `durably.jobs`). */
  register<More extends JobDefinitions>(jobs: More): JobHandles<More>
  getJob(name: string): JobHandle<string, unknown, unknown> | null
  /** Calls `listener` for every event of this type in this process; returns the unsubscribe function. */
  on<T extends EventType>(type: T, listener: Listener<T>): () => void
  /** Receives what a listener threw (by default it is ignored; a listener never breaks a run). */
  onError(handler: (error: unknown, event: DurablyEvent) => void): void
  getRun(runId: string): Promise<Run | null>
  getRuns(filter?: RunFilter): Promise<Array<Run>>
  getSteps(runId: string): Promise<Array<StepRecord>>
  getLogs(runId: string): Promise<Array<LogEntry>>
  /** Cancels a pending or leased run (its running steps are aborted); returns the cancelled run. */
  cancel(runId: string): Promise<Run>
  /** Puts a failed or cancelled run back to pending, same id. */
  retry(runId: string): Promise<Run>
  /** A new run of the same job with the same input and labels. */
  retrigger(runId: string): Promise<Run & { readonly disposition: Disposition }>
  deleteRun(runId: string): Promise<void>
  /** Deletes finished runs completed before `olderThan`; returns how many. */
  purgeRuns(options: { readonly olderThan: Date; readonly limit?: number | undefined }): Promise<number>
  /** Resolves with the completed run; rejects with `JobFailedError`, `CancelledError`, `WaitTimeoutError`, `NotFoundError`. */
  waitForRun(runId: string, options?: WaitForRunOptions): Promise<Run>
  /** The run's events from now on; closes after its terminal event, errors with `NotFoundError` for an unknown run. */
  subscribe(runId: string): ReadableStream<DurablyEvent>
  /** Claims and executes one run, if any is due; true when one was processed. */
  processOne(): Promise<boolean>
  /** Processes runs until none is due (or `maxRuns`); returns how many. */
  processUntilIdle(options?: { readonly maxRuns?: number | undefined }): Promise<number>
}

type Services = Engine.Durably | Worker | EventBus.EventBus | Store | SqlClient.SqlClient

const shortDuration = /^(\d+)\s*([dhm])$/
const durationUnits = { d: "days", h: "hours", m: "minutes" } as const

/** `"30d"` → `"30 days"`; numbers are milliseconds; anything else is left to the engine's check. */
const retention = (value: string | number | undefined): string | number | undefined => {
  if (typeof value !== "string") return value
  const match = shortDuration.exec(value.trim())
  if (match === null) return value
  const [, amount, unit] = match
  return `${amount} ${durationUnits[unit as keyof typeof durationUnits]}`
}

const stopped = () => new DOMException("The operation was interrupted", "AbortError")

/**
 * Creates a Durably instance. Nothing is opened until the first call that needs
 * the database (usually `init()`).
 *
 * @example
 * const durably = createDurably({ database: "jobs.db", jobs: { syncUsers } })
 * await durably.init()
 * const run = await durably.jobs.syncUsers.trigger({ orgId: "o1" })
 */
export const createDurably = <Jobs extends JobDefinitions = Record<never, never>>(
  options: DurablyOptions<Jobs>
): Durably<Jobs> => {
  const initial: ReadonlyArray<AnyJobDefinition> = Object.values(options.jobs ?? {})
  const engineOptions: Engine.Options<Job.Standalone> = {
    jobs: initial.map((definition) => definition[engineJob]),
    workerId: options.workerId,
    pollingIntervalMs: options.pollingIntervalMs,
    leaseRenewIntervalMs: options.leaseRenewIntervalMs,
    leaseMs: options.leaseMs,
    maxConcurrentRuns: options.maxConcurrentRuns,
    preserveSteps: options.preserveSteps,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    // Checked by the engine, which names `retainRuns` when it is not a duration.
    retainRuns: retention(options.retainRuns) as Duration.DurationInput | undefined,
    autoStart: false
  }
  if (!isDatabase(options.database)) {
    throw new ValidationError({
      subject: "options",
      issues: [{ path: ["database"], message: "must be a file path, ':memory:', a postgres:// URL or a Layer" }]
    })
  }
  const checked = Effect.runSync(Effect.either(Engine.validate(engineOptions)))
  if (checked._tag === "Left") throw toFacadeError(checked.left)

  // --- listeners -------------------------------------------------------------
  const listeners = new Map<EventType, Set<(event: DurablyEvent) => void>>()
  let onListenerError: (error: unknown, event: DurablyEvent) => void = () => {}
  const dispatch = (event: DurablyEvent) => {
    const forType = listeners.get(event.type)
    if (forType === undefined) return
    for (const listener of forType) {
      try {
        listener(event)
      } catch (error) {
        try {
          onListenerError(error, event)
        } catch {
          // An error handler that throws is ignored too.
        }
      }
    }
  }
  // One subscription feeds every listener in event order. It is opened with the
  // first listener (or when the runtime is built, if listeners came first), so
  // an instance nobody listens to pays nothing per event.
  let startDispatcher: Effect.Effect<void> | undefined
  let dispatching = false
  const dispatcher = Layer.scopedDiscard(
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const scope = yield* Effect.scope
      startDispatcher = Effect.suspend(() => {
        if (dispatching) return Effect.void
        dispatching = true
        // Only events someone listens for are queued, or even built (asked again for
        // each event, so `on()` later counts).
        const wanted = (type: DurablyEvent["type"]) => (listeners.get(type)?.size ?? 0) > 0
        return Effect.flatMap(Scope.extend(bus.subscribeWhere(() => true, wanted), scope), (events) =>
          Effect.asVoid(
            Effect.forkIn(
              Effect.forever(
                Effect.flatMap(Queue.takeBetween(events, 1, Number.MAX_SAFE_INTEGER), (chunk) =>
                  Effect.sync(() => {
                    for (const event of chunk) dispatch(event)
                  })
                )
              ),
              scope
            )
          )
        )
      })
      if (listeners.size > 0) yield* startDispatcher
    })
  )
  /** Opens the listeners' subscription once the runtime exists and someone listens. */
  const ensureDispatching = () => {
    if (built && !disposed && !dispatching && listeners.size > 0 && startDispatcher !== undefined) {
      runtime.runSync(startDispatcher)
    }
  }

  const storage = SqlStore.layerMigrated.pipe(Layer.provideMerge(clientLayer(options.database, options)))
  const layer = Layer.merge(Engine.layer(engineOptions), dispatcher).pipe(
    Layer.provideMerge(Layer.merge(storage, EventBus.layer))
  )
  const runtime = ManagedRuntime.make(layer)

  // --- jobs ------------------------------------------------------------------
  const definitions = new Map<string, Job.Standalone>()
  const handlesByName = new Map<string, JobHandle<string, unknown, unknown>>()
  const jobs: Record<string, JobHandle<string, unknown, unknown>> = {}
  let built = false
  let disposed = false

  /** Hands jobs registered since the runtime was built to the engine (a no-op for known ones). */
  let unsynced = true
  const syncJobs = Effect.suspend(() => {
    if (!unsynced) return Effect.void
    return Effect.flatMap(Engine.Durably, (engine) =>
      Effect.tap(engine.register([...definitions.values()]), () => {
        unsynced = false
      })
    )
  })

  const use = async <A, E>(effect: Effect.Effect<A, E, Services>): Promise<A> => {
    if (disposed) throw new DurablyError("DisposedError", "this Durably instance was disposed", 500)
    if (!built) await open()
    const exit = await runtime.runPromiseExit(unsynced ? Effect.zipRight(syncJobs, effect) : effect)
    return settle(exit, stopped)
  }

  /** The engine and clock, for the calls done at once outside the runtime; set once it is built. */
  let direct: { readonly engine: Engine.Durably["Type"]; readonly clock: Clock.Clock } | undefined

  /** Builds the runtime (opens and migrates the database) once; a failure says what could not be opened. */
  const open = async () => {
    try {
      await runtime.runtime()
      direct = runtime.runSync(Effect.all({ engine: Engine.Durably, clock: Effect.clock }))
      built = true
      ensureDispatching()
    } catch (error) {
      const facadeError = toFacadeError(error)
      if (facadeError instanceof DurablyError) throw facadeError
      const detail = facadeError instanceof Error ? facadeError.message : String(facadeError)
      throw new StoreError({ operation: "open", detail }, { cause: error })
    }
  }

  const jobFor = (name: string) => definitions.get(name)

  /** The run with its output decoded through its job's output schema (when the job is known here). */
  const decodeOutput = (run: Run): Effect.Effect<Run, CorruptRowError> => {
    const schema = jobFor(run.jobName)?.output
    if (schema === undefined || run.output === null || run.status !== "completed") return Effect.succeed(run)
    return Schema.decodeUnknown(schema)(run.output).pipe(
      Effect.map((output) => ({ ...run, output })),
      Effect.mapError(
        (error) => new CorruptRowError({ table: "durably_runs", runId: run.id, detail: `output: ${error.message}` })
      )
    )
  }

  const orNull = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.catchIf(
      effect,
      (error): error is E => typeof error === "object" && error !== null && "_tag" in error && error._tag === "NotFoundError",
      () => Effect.succeed(null)
    )

  /** Forwards one run's progress and log events to the caller's callbacks until `wait` ends. */
  const withCallbacks = <A, E>(
    waitOptions: WaitForRunOptions | undefined,
    body: (watch: (runId: string) => Effect.Effect<void>) => Effect.Effect<A, E, Services>
  ): Effect.Effect<A, E, Services | Scope.Scope> => {
    const onProgress = waitOptions?.onProgress
    const onLog = waitOptions?.onLog
    if (onProgress === undefined && onLog === undefined) return body(() => Effect.void)
    return Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        // Subscribed before the trigger / read, so no event of the run is missed.
        const events = yield* bus.subscribe
        const call = (event: DurablyEvent, runId: string) =>
          Effect.promise(async () => {
            try {
              if (event.runId !== runId) return
              if (event.type === "run:progress") await onProgress?.(event.progress)
              if (event.type === "log:write") await onLog?.(event)
            } catch {
              // A callback that throws does not end the wait.
            }
          })
        let watched: string | undefined
        const fiber = yield* Effect.forkScoped(
          Effect.forever(Effect.flatMap(Queue.take(events), (event) => (watched === undefined ? Effect.void : call(event, watched))))
        )
        const result = yield* body((runId) => Effect.sync(() => {
          watched = runId
        }))
        yield* Fiber.interrupt(fiber)
        // Deliver what arrived before the terminal state was seen.
        for (const event of yield* Queue.takeAll(events)) if (watched !== undefined) yield* call(event, watched)
        return result
      })
  }

  const waitFor = (runId: string, waitOptions: WaitForRunOptions | undefined) =>
    Effect.flatMap(Engine.Durably, (engine) =>
      Effect.flatMap(engine.waitForRun(runId, { timeoutMs: waitOptions?.timeout }), decodeOutput)
    )

  /** A triggered run as a handle returns it: its output decoded, with its disposition. */
  const withDisposition = ({ disposition, run }: Triggered) =>
    Effect.map(decodeOutput(run), (decoded) => ({ ...decoded, disposition }))

  /**
   * The trigger started without a fiber (see `unsafeTrigger`) once the instance
   * is open; `undefined` before that.
   */
  const triggerNow = (job: Job.Any, input: unknown, triggerOptions: TriggerOptions | undefined) => {
    if (direct === undefined || unsynced || disposed) return undefined
    let started: ReturnType<typeof direct.engine.unsafeTrigger>
    try {
      started = direct.engine.unsafeTrigger(job, input, triggerOptions, direct.clock.unsafeCurrentTimeMillis())
    } catch (error) {
      // A validator that throws: rejected like the effect's defect would be.
      return Promise.reject(toFacadeError(error))
    }
    if (Either.isEither(started)) {
      if (Either.isLeft(started)) return Promise.reject(toFacadeError(started.left))
      // A new run has no output to decode; one that existed already may have.
      if (started.right.disposition === "created") return Promise.resolve({ ...started.right.run, disposition: "created" as const })
    }
    return use(Effect.flatMap(started, withDisposition))
  }

  const makeHandle = (definition: AnyJobDefinition): JobHandle<string, unknown, unknown> => {
    const job = definition[engineJob]
    const typed = (run: Run): Effect.Effect<TypedRun<unknown>, CorruptRowError> => decodeOutput(run)
    return {
      name: definition.name,
      trigger: (input, triggerOptions) =>
        triggerNow(job, input, triggerOptions) ??
        use(Effect.flatMap(Engine.Durably, (engine) => Effect.flatMap(engine.trigger(job, input, triggerOptions), withDisposition))),
      triggerAndWait: (input, waitOptions) =>
        use(
          withCallbacks(waitOptions, (watch) =>
            Effect.gen(function* () {
              const engine = yield* Engine.Durably
              const { disposition, run } = yield* engine.trigger(job, input, waitOptions)
              yield* watch(run.id)
              const done = yield* waitFor(run.id, waitOptions)
              return { id: done.id, output: done.output, disposition }
            })
          ).pipe(Effect.scoped)
        ),
      batchTrigger: (items) =>
        use(
          Effect.gen(function* () {
            const engine = yield* Engine.Durably
            const results = yield* engine.batchTrigger(job, items)
            return yield* Effect.forEach(results, withDisposition)
          })
        ),
      getRun: (runId) =>
        use(
          orNull(
            Effect.flatMap(Engine.Durably, (engine) =>
              Effect.flatMap(engine.getRun(runId), (run) => (run.jobName === job.name ? typed(run) : Effect.succeed(null)))
            )
          )
        ),
      getRuns: (filter) =>
        use(
          Effect.flatMap(Engine.Durably, (engine) =>
            Effect.flatMap(engine.getRuns({ ...filter, jobName: job.name }), (runs) => Effect.forEach(runs, typed))
          )
        )
    }
  }

  const register = <More extends JobDefinitions>(more: More): JobHandles<More> => {
    const handles: Record<string, JobHandle<string, unknown, unknown>> = {}
    for (const [key, definition] of Object.entries(more)) {
      const job = definition[engineJob]
      const known = definitions.get(definition.name)
      if (known !== undefined && known !== job) {
        throw new ValidationError({
          subject: "jobs",
          issues: [{ path: ["jobs", key], message: `another job is already registered as "${definition.name}"` }]
        })
      }
      if (known === undefined) unsynced = true
      definitions.set(definition.name, job)
      const handle = handlesByName.get(definition.name) ?? makeHandle(definition)
      handlesByName.set(definition.name, handle)
      handles[key] = handle
      jobs[key] = handle
    }
    // A running worker must know the jobs before it claims their runs.
    if (built && !disposed) runtime.runSync(syncJobs)
    return handles as JobHandles<More>
  }

  register(options.jobs ?? {})

  const engine = <A, E>(f: (engine: Engine.Durably["Type"]) => Effect.Effect<A, E>) => use(Effect.flatMap(Engine.Durably, f))

  const durably: Durably<Jobs> & WithEngine = {
    [engineContext]: async () => {
      if (disposed) throw new DurablyError("DisposedError", "this Durably instance was disposed", 500)
      if (!built) await open()
      return (await runtime.runtime()).context
    },
    jobs: jobs as JobHandles<Jobs>,
    init: async () => {
      await use(Effect.void)
      await use(Effect.flatMap(Worker, (worker) => worker.start))
    },
    migrate: () => use(Effect.void),
    start: () => use(Effect.flatMap(Worker, (worker) => worker.start)),
    stop: async () => {
      if (built && !disposed) await use(Effect.flatMap(Worker, (worker) => worker.stop))
    },
    dispose: async () => {
      if (disposed) return
      disposed = true
      await runtime.dispose()
    },
    register,
    getJob: (name) => handlesByName.get(name) ?? null,
    on: (type, listener) => {
      const forType = listeners.get(type) ?? new Set()
      listeners.set(type, forType)
      ensureDispatching()
      const entry = listener as (event: DurablyEvent) => void
      forType.add(entry)
      return () => {
        forType.delete(entry)
      }
    },
    onError: (handler) => {
      onListenerError = handler
    },
    getRun: (runId) => use(orNull(Effect.flatMap(Engine.Durably, (e) => Effect.flatMap(e.getRun(runId), decodeOutput)))),
    getRuns: (filter) =>
      use(Effect.flatMap(Engine.Durably, (e) => Effect.flatMap(e.getRuns(filter), (runs) => Effect.forEach(runs, decodeOutput)))),
    getSteps: (runId) => engine((e) => Effect.map(e.getSteps(runId), (steps) => [...steps])),
    getLogs: (runId) => engine((e) => Effect.map(e.getLogs(runId), (logs) => [...logs])),
    cancel: (runId) => engine((e) => e.cancel(runId)),
    retry: (runId) => engine((e) => e.retry(runId)),
    retrigger: (runId) => engine((e) => Effect.map(e.retrigger(runId), ({ disposition, run }) => ({ ...run, disposition }))),
    deleteRun: (runId) => engine((e) => e.deleteRun(runId)),
    purgeRuns: (purge) => engine((e) => e.purgeRuns(purge)),
    waitForRun: (runId, waitOptions) =>
      use(
        withCallbacks(waitOptions, (watch) => Effect.zipRight(watch(runId), waitFor(runId, waitOptions))).pipe(
          Effect.scoped
        )
      ),
    subscribe: (runId) => {
      let fiber: Fiber.RuntimeFiber<void, unknown> | undefined
      return new ReadableStream<DurablyEvent>({
        start: (controller) => {
          if (disposed) return controller.error(new DurablyError("DisposedError", "this Durably instance was disposed", 500))
          const pump = Effect.flatMap(Engine.Durably, (e) =>
            Stream.runForEach(e.subscribe(runId), (event) => Effect.sync(() => controller.enqueue(event)))
          )
          fiber = runtime.runFork(
            Effect.matchCause(pump, {
              onSuccess: () => controller.close(),
              onFailure: (cause) => {
                if (!Cause.isInterruptedOnly(cause)) controller.error(toFacadeError(Cause.squash(cause)))
              }
            })
          )
        },
        cancel: async () => {
          if (fiber !== undefined) await runtime.runPromise(Fiber.interrupt(fiber))
        }
      })
    },
    processOne: () => engine((e) => e.processOne),
    processUntilIdle: (limits) => engine((e) => e.processUntilIdle(limits))
  }
  return durably
}
