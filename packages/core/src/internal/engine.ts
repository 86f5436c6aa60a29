// The engine behind `Durably.layer`: the job registry, the worker's polling
// loop and the run API, built together because they share the set of runs
// executing in this process.
import type { Fiber } from "effect"
import { Chunk, Clock, Context, Duration, Effect, Either, Fiber as F, Layer, Option, ParseResult, Queue, Schema, Stream } from "effect"
import type { Options, TriggerError, TriggerOptions, Triggered, WaitOptions } from "../Durably.js"
import { Durably } from "../Durably.js"
import {
  CancelledError,
  JobFailedError,
  NotFoundError,
  ValidationError,
  WaitTimeoutError
} from "../DurablyError.js"
import type { CorruptRowError, StoreError } from "../DurablyError.js"
import type { DurablyEvent } from "../DurablyEvent.js"
import { terminalEventTypes } from "../DurablyEvent.js"
import { EventBus } from "../EventBus.js"
import type * as Job from "../Job.js"
import type { Run } from "../Run.js"
import { isTerminal } from "../Run.js"
import type { EnqueueRequest, Enqueued } from "../Store.js"
import { Store } from "../Store.js"
import { Worker } from "../Worker.js"
import { describeFailure } from "./describe.js"
import type { Execution, ExecutionConfig } from "./execution.js"
import { now, start as startExecution } from "./execution.js"

interface Config extends ExecutionConfig {
  readonly pollingIntervalMs: number
  readonly maxConcurrentRuns: number
  readonly shutdownTimeoutMs: number
  readonly autoStart: boolean
  /** Finished runs older than this are purged while the worker is idle; undefined keeps them. */
  readonly retainRunsMs: number | undefined
}

const randomWorkerId = (): string => {
  const bytes = new Uint8Array(6)
  globalThis.crypto.getRandomValues(bytes)
  return `worker-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`
}

/** `retainRuns` in milliseconds, or undefined when absent or not a positive finite duration. */
const retention = (input: Duration.DurationInput | undefined): number | undefined => {
  if (input === undefined) return undefined
  const retain = Duration.decodeUnknown(input)
  if (Option.isNone(retain) || !Duration.isFinite(retain.value)) return undefined
  const ms = Duration.toMillis(retain.value)
  return ms > 0 ? ms : undefined
}

/** Names taken twice within `added`, or already taken in `registered` by a different job. */
const checkJobNames = (
  added: ReadonlyArray<Job.Any>,
  registered: ReadonlyMap<string, Job.Any>
): Array<{ path: ReadonlyArray<string>; message: string }> => {
  const seen = new Map(registered)
  const issues: Array<{ path: ReadonlyArray<string>; message: string }> = []
  for (const job of added) {
    const other = seen.get(job.name)
    if (other !== undefined && other !== job) issues.push({ path: ["jobs"], message: `two jobs are named "${job.name}"` })
    seen.set(job.name, job)
  }
  return issues
}

/** Checks every option and names each bad one. */
export const validateOptions = <J extends Job.Any>(options: Options<J>): Effect.Effect<Config, ValidationError> => {
  const issues: Array<{ path: ReadonlyArray<string>; message: string }> = []
  const positiveInt = (name: keyof Options<J>, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback
    if (!Number.isInteger(value) || value <= 0) issues.push({ path: [name], message: `must be a positive integer, got ${value}` })
    return value
  }
  const config: Config = {
    workerId: options.workerId ?? randomWorkerId(),
    pollingIntervalMs: positiveInt("pollingIntervalMs", options.pollingIntervalMs, 1000),
    leaseRenewIntervalMs: positiveInt("leaseRenewIntervalMs", options.leaseRenewIntervalMs, 5000),
    leaseMs: positiveInt("leaseMs", options.leaseMs, 30_000),
    maxConcurrentRuns: positiveInt("maxConcurrentRuns", options.maxConcurrentRuns, 1),
    shutdownTimeoutMs: positiveInt("shutdownTimeoutMs", options.shutdownTimeoutMs, 30_000),
    preserveSteps: options.preserveSteps ?? false,
    autoStart: options.autoStart ?? true,
    retainRunsMs: retention(options.retainRuns)
  }
  if (config.workerId.length === 0) issues.push({ path: ["workerId"], message: "must not be empty" })
  if (config.leaseRenewIntervalMs >= config.leaseMs) {
    issues.push({ path: ["leaseRenewIntervalMs"], message: `must be less than leaseMs (${config.leaseMs})` })
  }
  issues.push(...checkJobNames(options.jobs, new Map()))
  if (options.retainRuns !== undefined && config.retainRunsMs === undefined) {
    issues.push({ path: ["retainRuns"], message: `must be a positive duration, got ${String(options.retainRuns)}` })
  }
  return issues.length > 0 ? Effect.fail(new ValidationError({ subject: "options", issues })) : Effect.succeed(config)
}

/** A Schema parse failure as `ValidationError` issues. */
const toValidationError = (subject: string, error: ParseResult.ParseError): ValidationError =>
  new ValidationError({
    subject,
    issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
      path: issue.path.map((segment) => (typeof segment === "symbol" ? String(segment) : segment)),
      message: issue.message
    }))
  })

/** The terminal event a finished run would have emitted, for late subscribers. */
const terminalEventOf = (run: Run, timestamp: Date, failedStepName: string | null): DurablyEvent | undefined => {
  const base = { runId: run.id, jobName: run.jobName, timestamp }
  switch (run.status) {
    case "completed": {
      const startedAt = run.startedAt?.getTime() ?? run.createdAt.getTime()
      const durationMs = (run.completedAt?.getTime() ?? startedAt) - startedAt
      return { type: "run:complete", ...base, output: run.output, durationMs }
    }
    case "failed":
      return { type: "run:fail", ...base, error: run.error ?? "", failedStepName }
    case "cancelled":
      return { type: "run:cancel", ...base }
    default:
      return undefined
  }
}

const retentionEveryMs = 60_000
const retentionBatch = 100

const isTerminalType = (type: DurablyEvent["type"]): boolean => terminalEventTypes.includes(type)
const isTerminalEvent = (event: DurablyEvent): boolean => isTerminalType(event.type)

export const makeEngine = <J extends Job.Any>(options: Options<J>) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const config = yield* validateOptions(options)
      const store = yield* Store
      const bus = yield* EventBus
      const context = yield* Effect.context<Job.Requirements<J>>()
      const jobs = new Map<string, Job.Any>(options.jobs.map((job) => [job.name, job]))
      const running = new Map<string, Execution>()
      const wakeUps = yield* Queue.sliding<void>(1)
      const slots = yield* Effect.makeSemaphore(config.maxConcurrentRuns)
      let loop: Fiber.RuntimeFiber<never> | undefined
      const deps = { store, bus, config, context }

      const publish = bus.publish

      // --- worker ------------------------------------------------------------

      /** Claims the next run; a corrupt row was already failed by the store, so report it and go on. */
      const claimNext: Effect.Effect<Option.Option<Run>, StoreError> = store
        .claim({ workerId: config.workerId, leaseMs: config.leaseMs })
        .pipe(
          Effect.catchTag("CorruptRowError", (error: CorruptRowError) =>
            Effect.zipRight(
              Effect.flatMap(now, (timestamp) =>
                publish({ type: "worker:error", timestamp, error: error.message, runId: error.runId })
              ),
              claimNext
            )
          )
        )

      /** Starts executing a claimed run; `onDone` runs once it has finished its writes. */
      const launch = (run: Run, onDone: Effect.Effect<void>) =>
        startExecution(run, jobs.get(run.jobName), deps, {
          started: (execution) => running.set(run.id, execution),
          finished: Effect.zipRight(
            Effect.sync(() => running.delete(run.id)),
            onDone
          )
        })

      const backoff = (failures: number) =>
        Duration.millis(Math.min(config.pollingIntervalMs * 2 ** Math.min(failures, 10), 30_000))

      // Retention: while idle, at most once a minute, purge a batch of finished runs
      // older than `retainRuns` (no events, as for any maintenance).
      let lastPurgeAt = Number.NEGATIVE_INFINITY
      const retention = Effect.gen(function* () {
        const retainMs = config.retainRunsMs
        const ms = yield* Clock.currentTimeMillis
        if (retainMs === undefined || ms - lastPurgeAt < retentionEveryMs) return
        lastPurgeAt = ms
        yield* store.purge({ olderThan: ms - retainMs, limit: retentionBatch }).pipe(
          Effect.catchAll((error) => Effect.flatMap(now, (timestamp) => publish({ type: "worker:error", timestamp, error: describeFailure(error) })))
        )
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
            yield* publish({ type: "worker:error", timestamp: yield* now, error: describeFailure(claimed.left) })
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
            Effect.suspend(() =>
              Effect.forEach([...running.values()], (execution) => execution.startRenewal, { discard: true })
            )
          )
        )
      )

      const startWorker = Effect.suspend(() =>
        loop !== undefined
          ? Effect.void
          : Effect.map(Effect.forkDaemon(pollingLoop), (fiber) => {
              loop = fiber
            })
      )

      const stopWorker = Effect.gen(function* () {
        const fiber = loop
        loop = undefined
        if (fiber !== undefined) yield* F.interrupt(fiber)
        const inFlight = [...running.values()]
        // Interruptible even inside a finalizer (the layer closing): an uninterruptible
        // wait would make the timeout wait for the runs instead of cutting them short.
        const drained = yield* Effect.timeoutOption(
          Effect.interruptible(
            Effect.forEach(inFlight, (execution) => execution.done, { concurrency: "unbounded", discard: true })
          ),
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

      // --- runs --------------------------------------------------------------

      const noSuchJob = (jobName: string) => new NotFoundError({ entity: "job", id: jobName })

      const jobNamed = (jobName: string) => {
        const job = jobs.get(jobName)
        return job === undefined ? Effect.fail(noSuchJob(jobName)) : Effect.succeed(job)
      }

      const requestFor = (job: Job.Any, encodedInput: unknown, options?: TriggerOptions): EnqueueRequest => ({
        jobName: job.name,
        input: encodedInput,
        idempotencyKey: options?.idempotencyKey,
        concurrencyKey: options?.concurrencyKey,
        coalesce: options?.coalesce,
        labels: options?.labels
      })

      /** Publishes what `enqueue` did (nothing for a run that already existed), at the time `now`. */
      const announceAt = (enqueued: Enqueued, now: number): Triggered => {
        const { disposition, run } = enqueued
        const { input, labels } = run
        const base = { runId: run.id, jobName: run.jobName }
        if (disposition === "created") {
          bus.unsafeEmit("run:trigger", (timestamp) => ({ type: "run:trigger", ...base, timestamp, input, labels }), now)
        } else if (disposition === "coalesced") {
          bus.unsafeEmit("run:coalesced", (timestamp) => ({ type: "run:coalesced", ...base, timestamp, labels }), now)
        }
        return { run, disposition }
      }

      /** Publishes what `enqueue` did (nothing for a run that already existed). */
      const announce = (enqueued: Enqueued): Effect.Effect<Triggered> =>
        Effect.clockWith((clock) => Effect.succeed(announceAt(enqueued, clock.unsafeCurrentTimeMillis())))

      const encodeInput = (job: Job.Any, input: unknown) =>
        Effect.mapError(Schema.encodeUnknown(job.input)(input, { errors: "all" }), (error) => toValidationError(`input of ${job.name}`, error))

      /** Enqueues `request` and publishes what the enqueue did. */
      const enqueueAnnounced = (request: EnqueueRequest) =>
        store.enqueue(request).pipe(Effect.flatMap(announce), Effect.zipLeft(wake))

      /** The trigger as effects, for an input that encodes only asynchronously (or not at all: its `ValidationError`). */
      const encodeAndEnqueue = (job: Job.Any, input: unknown, options?: TriggerOptions) =>
        Effect.flatMap(encodeInput(job, input), (encoded) => enqueueAnnounced(requestFor(job, encoded, options)))

      // Commonly the input encodes synchronously and the store can write at once
      // (SQLite): then the trigger is done here, with no effects at all, and the
      // answer is an `Either`. Otherwise the answer is the effect that does the
      // rest, reusing what was done here.
      const unsafeTrigger = (
        job: Job.Any,
        input: unknown,
        options: TriggerOptions | undefined,
        now: number
      ): Either.Either<Triggered, TriggerError> | Effect.Effect<Triggered, TriggerError> => {
        const registered = jobs.get(job.name)
        if (registered === undefined) return Either.left(noSuchJob(job.name))
        const encoded = Schema.encodeUnknownEither(registered.input)(input, { errors: "all" })
        // A failure here may be an input that can only be encoded asynchronously: the effect tells them apart.
        if (Either.isLeft(encoded)) return encodeAndEnqueue(registered, input, options)
        const request = requestFor(registered, encoded.right, options)
        const enqueued = store.enqueueNow?.(request, now)
        if (enqueued === undefined) return enqueueAnnounced(request)
        if (Either.isLeft(enqueued)) return Either.left(enqueued.left)
        const triggered = announceAt(enqueued.right, now)
        unsafeWake()
        return Either.right(triggered)
      }

      const trigger = (job: Job.Any, input: unknown, options?: TriggerOptions) =>
        Effect.clockWith((clock) => unsafeTrigger(job, input, options, clock.unsafeCurrentTimeMillis()))

      const triggerByName = (jobName: string, input: unknown, options?: TriggerOptions) =>
        Effect.gen(function* () {
          const job = yield* jobNamed(jobName)
          // Untrusted input: decode it first (validation), then store its encoded form.
          const decoded = yield* Effect.mapError(Schema.decodeUnknown(job.input)(input, { errors: "all" }), (error) =>
            toValidationError(`input of ${job.name}`, error)
          )
          return yield* trigger(job, decoded, options)
        })

      const batchTrigger = (
        job: Job.Any,
        items: ReadonlyArray<{ readonly input: unknown; readonly options?: TriggerOptions | undefined }>
      ) =>
        Effect.gen(function* () {
          const registered = yield* jobNamed(job.name)
          const requests = yield* Effect.forEach(items, (item) =>
            Effect.map(encodeInput(registered, item.input), (encoded) => requestFor(registered, encoded, item.options))
          )
          const results = yield* Effect.forEach(yield* store.enqueueBatch(requests), announce)
          yield* wake
          return results
        })

      /** The step a failed run failed in (failed-step records outlive the run's cleanup). */
      const failedStepOf = (runId: string) =>
        Effect.map(
          store.getSteps(runId),
          (steps) => steps.findLast((step) => step.status === "failed")?.name ?? null
        )

      const waitForRun = (runId: string, waitOptions?: WaitOptions) =>
        Effect.scoped(
          Effect.gen(function* () {
            // Subscribe before reading, so a finish in between is not missed.
            const events = yield* bus.subscribeWhere((event) => event.runId === runId, isTerminalType)
            while (true) {
              const run = yield* store.getRun(runId)
              if (run.status === "completed") return run
              if (run.status === "failed") {
                return yield* new JobFailedError({
                  runId,
                  error: run.error ?? "",
                  failedStepName: yield* failedStepOf(runId)
                })
              }
              if (run.status === "cancelled") return yield* new CancelledError({ runId })
              // Woken by this run's terminal event here, or by the poll for other processes.
              yield* Effect.race(Queue.take(events), Effect.sleep(Duration.millis(config.pollingIntervalMs)))
            }
          })
        ).pipe(
          (wait) =>
            waitOptions?.timeoutMs === undefined
              ? wait
              : Effect.timeoutFail(wait, {
                  duration: Duration.millis(waitOptions.timeoutMs),
                  onTimeout: () => new WaitTimeoutError({ runId, timeoutMs: waitOptions.timeoutMs ?? 0 })
                })
        )

      const triggerAndWait = (job: Job.Any, input: unknown, options?: TriggerOptions & WaitOptions) =>
        Effect.gen(function* () {
          const { disposition, run } = yield* trigger(job, input, options)
          const done = yield* waitForRun(run.id, options)
          const output =
            job.output === undefined
              ? done.output
              : yield* Effect.orDie(Schema.decodeUnknown(job.output)(done.output))
          return { run: done, output, disposition }
        })

      const subscribe = (runId: string): Stream.Stream<DurablyEvent, NotFoundError | StoreError | CorruptRowError> =>
        Stream.unwrapScoped(
          Effect.gen(function* () {
            const events = yield* bus.subscribeWhere((event) => event.runId === runId)
            const run = yield* store.getRun(runId)
            if (isTerminal(run.status)) {
              // Finished while the stream was opening: the events since subscribing are
              // the stream, when they reach the end; otherwise the run's terminal event ends them.
              const since = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
              const end = since.findIndex(isTerminalEvent)
              if (end >= 0) return Stream.fromIterable(since.slice(0, end + 1))
              const failedStepName = run.status === "failed" ? yield* failedStepOf(runId) : null
              const event = terminalEventOf(run, yield* now, failedStepName)
              return Stream.fromIterable(event === undefined ? since : [...since, event])
            }
            return Stream.fromQueue(events).pipe(Stream.takeUntil(isTerminalEvent))
          })
        )

      const cancel = (runId: string) =>
        Effect.gen(function* () {
          const run = yield* store.cancel(runId, { deleteSteps: !config.preserveSteps })
          const execution = running.get(runId)
          if (execution !== undefined) yield* execution.stop("cancelled")
          yield* bus.emit("run:cancel", (timestamp) => ({ type: "run:cancel", runId, jobName: run.jobName, timestamp }))
          return run
        })

      const retry = (runId: string) =>
        Effect.gen(function* () {
          const run = yield* store.retry(runId)
          yield* bus.emit("run:retry", (timestamp) => ({ type: "run:retry", runId, jobName: run.jobName, timestamp }))
          yield* wake
          return run
        })

      const retrigger = (runId: string) =>
        Effect.gen(function* () {
          const run = yield* store.getRun(runId)
          const triggered = yield* announce(
            yield* store.enqueue({ jobName: run.jobName, input: run.input, labels: run.labels })
          )
          yield* wake
          return triggered
        })

      const deleteRun = (runId: string) =>
        Effect.gen(function* () {
          const { jobName, labels } = yield* store.deleteRun(runId)
          yield* bus.emit("run:delete", (timestamp) => ({ type: "run:delete", runId, jobName, labels, timestamp }))
        })

      /** Adds jobs at run time; the same job again is a no-op, another job under a taken name is refused. */
      const register = (added: ReadonlyArray<Job.Standalone>) =>
        Effect.suspend(() => {
          const issues = checkJobNames(added, jobs)
          if (issues.length > 0) return Effect.fail(new ValidationError({ subject: "jobs", issues }))
          for (const job of added) jobs.set(job.name, job)
          return Effect.void
        })

      const worker = Worker.of({
        workerId: config.workerId,
        start: startWorker,
        stop: stopWorker,
        wake,
        processOne,
        processUntilIdle,
        running: Effect.sync(() => [...running.keys()])
      })

      const durably = Durably.of({
        jobs,
        register,
        trigger: trigger as Durably["Type"]["trigger"],
        unsafeTrigger: unsafeTrigger as Durably["Type"]["unsafeTrigger"],
        triggerByName,
        triggerAndWait: triggerAndWait as Durably["Type"]["triggerAndWait"],
        batchTrigger: batchTrigger as Durably["Type"]["batchTrigger"],
        getRun: store.getRun,
        getRuns: store.getRuns,
        getSteps: store.getSteps,
        getLogs: store.getLogs,
        cancel,
        retry,
        retrigger,
        deleteRun,
        purgeRuns: (purge) => store.purge({ olderThan: purge.olderThan.getTime(), limit: purge.limit }),
        waitForRun,
        subscribe,
        processOne,
        processUntilIdle
      })

      yield* Effect.addFinalizer(() => stopWorker)
      if (config.autoStart) yield* startWorker
      return Context.make(Durably, durably).pipe(Context.add(Worker, worker))
    })
  )
