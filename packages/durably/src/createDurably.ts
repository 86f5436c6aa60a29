/**
 * `createDurably`: the Promise door into the Effect engine. Every method runs
 * the matching `Durably` / `Worker` effect on one `ManagedRuntime` and turns
 * its failures into the classes of `errors.ts`; no behaviour lives here.
 */
import { Durably as Engine } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { StorageTypeId } from "@durably/core/Internal"
import type * as Job from "@durably/core/Job"
import type { LogEntry, Run, StepRecord } from "@durably/core/Run"
import type { Disposition, RunFilter } from "@durably/core/Store"
import { Worker } from "@durably/core/Worker"
import type { Duration } from "effect"
import { Cause, Effect, Fiber, Layer, Stream } from "effect"
import type { AnyJobDefinition, JobDefinition } from "./defineJob.js"
import { engineJob } from "./defineJob.js"
import { DurablyError, ValidationError } from "./errors.js"
import type { Database, DatabaseResolver } from "./internal/database.js"
import type { WithEngine } from "./internal/engineContext.js"
import { engineContext } from "./internal/engineContext.js"
import type { TimingOptions } from "./internal/engineOptions.js"
import { checkOptions, engineTimings } from "./internal/engineOptions.js"
import { disposedError, makeInstance } from "./internal/instance.js"
import type { JobHandle } from "./internal/jobHandle.js"
import { makeHandle } from "./internal/jobHandle.js"
import type { EventType, Listener } from "./internal/listeners.js"
import { makeListeners } from "./internal/listeners.js"
import { orNull, outputDecoder } from "./internal/runOutput.js"
import { toFacadeError } from "./internal/translate.js"
import type { WaitForRunOptions } from "./internal/waitForRun.js"
import { waitFor, withCallbacks } from "./internal/waitForRun.js"

export type { TriggerOptions } from "@durably/core/Durably"
export type { DurablyEvent, EventOf } from "@durably/core/DurablyEvent"
export { eventTypes } from "@durably/core/DurablyEvent"
export type { LogEntry, Progress, Run, RunStatus, StepRecord } from "@durably/core/Run"
export type { Disposition, RunFilter } from "@durably/core/Store"
export type { Database } from "./internal/database.js"
export type { JobHandle, TriggerAndWaitResult, TriggerResult, TypedRun } from "./internal/jobHandle.js"
export type { EventType, Listener } from "./internal/listeners.js"
export type { WaitForRunOptions } from "./internal/waitForRun.js"

/**
 * Options of `createDurably`: the engine's (`maxConcurrentRuns`,
 * `preserveSteps`, `workerId`; see `Durably.Options`), its durations in
 * milliseconds (`pollingIntervalMs`, `leaseMs`, `leaseRenewIntervalMs`,
 * `shutdownTimeoutMs`), plus these.
 */
export interface DurablyOptions<Jobs extends JobDefinitions>
  extends Omit<
      Engine.Options<Job.Standalone>,
      "jobs" | "autoStart" | "retainRuns" | "pollingInterval" | "leaseRenewInterval" | "leaseDuration" | "shutdownTimeout"
    >,
    TimingOptions {
  /** A SQLite file path, `":memory:"`, a `postgres://` URL, a Layer providing `SqlClient`, or `DurablyBrowser.database()`. */
  readonly database: Database
  readonly jobs?: Jobs | undefined
  /** Purge finished runs older than this: `"30d"`, `"12h"`, `"15m"`, or milliseconds. Default: keep them. */
  readonly retainRuns?: string | number | undefined
  /** SQLite only: `NORMAL` (default) survives process crashes, `FULL` also power loss. */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
}

/** Job definitions by the key their handles get in `durably.jobs`. */
export type JobDefinitions = Record<string, AnyJobDefinition>

type HandleOf<D> = D extends JobDefinition<infer Name, infer Input, infer Output> ? JobHandle<Name, Input, Output> : never

/** The handles for a set of job definitions, by the same keys. */
export type JobHandles<Jobs extends JobDefinitions> = { readonly [K in keyof Jobs]: HandleOf<Jobs[K]> }

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

/** `createDurably` of an entry, which passes how it opens `options.database`. */
export const makeDurably = <Jobs extends JobDefinitions = Record<never, never>>(
  options: DurablyOptions<Jobs>,
  resolveDatabase: DatabaseResolver
): Durably<Jobs> => {
  const initial: ReadonlyArray<AnyJobDefinition> = Object.values(options.jobs ?? {})
  const engineOptions: Engine.Options<Job.Standalone> = {
    jobs: initial.map((definition) => definition[engineJob]),
    workerId: options.workerId,
    ...engineTimings(options),
    maxConcurrentRuns: options.maxConcurrentRuns,
    preserveSteps: options.preserveSteps,
    // Checked by the engine, which names `retainRuns` when it is not a duration.
    retainRuns: retention(options.retainRuns) as Duration.DurationInput | undefined,
    autoStart: false
  }
  const database = resolveDatabase(options.database, options)
  const invalid = checkOptions(options, engineOptions)
  if (invalid !== undefined) throw toFacadeError(invalid)

  const listeners = makeListeners()
  /** Opens the listeners' subscription once the runtime exists and someone listens. */
  const ensureDispatching = () => {
    if (instance.isBuilt() && !instance.isDisposed()) listeners.ensure((effect) => instance.runtime.runSync(effect))
  }
  const layer = database[StorageTypeId].provide(Layer.merge(Engine.layer(engineOptions), listeners.layer))
  const instance = makeInstance(layer, ensureDispatching)
  const { definitions, runtime, use } = instance
  const decodeOutput = outputDecoder(definitions)

  // --- jobs ------------------------------------------------------------------
  const handlesByName = new Map<string, JobHandle<string, unknown, unknown>>()
  const jobs: Record<string, JobHandle<string, unknown, unknown>> = {}

  const register = <More extends JobDefinitions>(more: More): JobHandles<More> => {
    const handles: Record<string, JobHandle<string, unknown, unknown>> = {}
    let added = false
    for (const [key, definition] of Object.entries(more)) {
      const job = definition[engineJob]
      const known = definitions.get(definition.name)
      if (known !== undefined && known !== job) {
        throw new ValidationError({
          subject: "jobs",
          issues: [{ path: ["jobs", key], message: `another job is already registered as "${definition.name}"` }]
        })
      }
      if (known === undefined) added = true
      definitions.set(definition.name, job)
      const handle = handlesByName.get(definition.name) ?? makeHandle(instance, decodeOutput, definition)
      handlesByName.set(definition.name, handle)
      handles[key] = handle
      jobs[key] = handle
    }
    instance.registered(added)
    return handles as JobHandles<More>
  }

  register(options.jobs ?? {})

  const engine = <A, E>(f: (engine: Engine.Durably["Type"]) => Effect.Effect<A, E>) => use(Effect.flatMap(Engine.Durably, f))

  const durably: Durably<Jobs> & WithEngine = {
    [engineContext]: instance.context,
    jobs: jobs as JobHandles<Jobs>,
    init: async () => {
      await use(Effect.void)
      await use(Effect.flatMap(Worker, (worker) => worker.start))
    },
    migrate: () => use(Effect.void),
    start: () => use(Effect.flatMap(Worker, (worker) => worker.start)),
    stop: async () => {
      if (instance.isBuilt() && !instance.isDisposed()) await use(Effect.flatMap(Worker, (worker) => worker.stop))
    },
    dispose: instance.dispose,
    register,
    getJob: (name) => handlesByName.get(name) ?? null,
    on: (type, listener) => listeners.on(type, listener, ensureDispatching),
    onError: listeners.onError,
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
        withCallbacks(waitOptions, (watch) => Effect.zipRight(watch(runId), waitFor(decodeOutput, runId, waitOptions))).pipe(
          Effect.scoped
        )
      ),
    subscribe: (runId) => {
      let fiber: Fiber.RuntimeFiber<void, unknown> | undefined
      return new ReadableStream<DurablyEvent>({
        start: (controller) => {
          if (instance.isDisposed()) return controller.error(disposedError())
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
