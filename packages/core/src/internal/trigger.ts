// Triggering: a run's input is checked against its job's schema and stored in
// its encoded form, `run:trigger` is published and the worker woken. A trigger
// made inside the caller's open transaction is announced only once that
// transaction has committed (and not at all when it rolls back), so nobody
// hears of, or looks for, a run that is not there.
import type { Scope } from "effect"
import { Effect, Either, ParseResult, Schema } from "effect"
import { ValidationError } from "../DurablyError.js"
import type { EventOf, EventType } from "../DurablyEvent.js"
import type { EventBus } from "../EventBus.js"
import type * as Job from "../Job.js"
import type { EnqueueRequest, Enqueued, Store } from "../Store.js"
import type { Registry } from "./registry.js"
import { noSuchJob } from "./registry.js"
import { enqueueNowOf } from "./storeDoors.js"
import type { TriggerError, TriggerOptions, Triggered } from "./types.js"
import { unsafeEmitOf } from "./unsafe.js"

export interface TriggerDeps {
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly registry: Registry
  /** Wakes the worker (a signal: one waiting already is enough). */
  readonly wake: Effect.Effect<void>
  readonly unsafeWake: () => void
  /** The engine's scope, where announcements waiting for a commit run. */
  readonly scope: Scope.Scope
}

/** A Schema parse failure as `ValidationError` issues. */
export const toValidationError = (subject: string, error: ParseResult.ParseError): ValidationError =>
  new ValidationError({
    subject,
    issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
      path: issue.path.map((segment) => (typeof segment === "symbol" ? String(segment) : segment)),
      message: issue.message
    }))
  })

const requestFor = (job: Job.Any, encodedInput: unknown, options?: TriggerOptions): EnqueueRequest => ({
  jobName: job.name,
  input: encodedInput,
  idempotencyKey: options?.idempotencyKey,
  concurrencyKey: options?.concurrencyKey,
  coalesce: options?.coalesce,
  labels: options?.labels
})

export const makeTriggers = (deps: TriggerDeps) => {
  const { bus, registry, scope, store, unsafeWake, wake } = deps
  const emitNow = unsafeEmitOf(bus)
  const enqueueNow = enqueueNowOf(store)

  /**
   * Publishes what `enqueue` did through `emit` (nothing for a run that
   * already existed): the bus's `emit`, or its fast twin with the time given.
   */
  const publishWith = <A>(
    emit: <T extends EventType>(type: T, build: (timestamp: Date) => EventOf<T>) => A,
    { disposition, run }: Enqueued
  ): A | undefined => {
    const base = { runId: run.id, jobName: run.jobName, labels: run.labels }
    if (disposition === "created") {
      return emit("run:trigger", (timestamp) => ({ type: "run:trigger", ...base, timestamp, input: run.input }))
    }
    if (disposition === "coalesced") {
      return emit("run:coalesced", (timestamp) => ({ type: "run:coalesced", ...base, timestamp }))
    }
    return undefined
  }

  const publish = (enqueued: Enqueued): Effect.Effect<void> => publishWith(bus.emit, enqueued) ?? Effect.void

  /**
   * Publishes what `enqueue` did and wakes the worker; for an enqueue that
   * joined the caller's transaction, from a fiber of the engine's own that
   * waits for that transaction's end.
   */
  const announce = (enqueued: Enqueued): Effect.Effect<Triggered> => {
    const triggered: Triggered = { run: enqueued.run, disposition: enqueued.disposition }
    const announced = Effect.zipRight(publish(enqueued), wake)
    const committed = enqueued.committed
    if (committed === undefined) return Effect.as(announced, triggered)
    const afterCommit = Effect.flatMap(committed, (ok) => (ok ? announced : Effect.void))
    return Effect.as(Effect.forkIn(afterCommit, scope), triggered)
  }

  const encodeInput = (job: Job.Any, input: unknown) =>
    Effect.mapError(Schema.encodeUnknown(job.input)(input, { errors: "all" }), (error) =>
      toValidationError(`input of ${job.name}`, error)
    )

  const enqueueAnnounced = (request: EnqueueRequest) => Effect.flatMap(store.enqueue(request), announce)

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
    const registered = registry.jobs.get(job.name)
    if (registered === undefined) return Either.left(noSuchJob(job.name))
    const encoded = Schema.encodeUnknownEither(registered.input)(input, { errors: "all" })
    // A failure here may be an input that can only be encoded asynchronously: the effect tells them apart.
    if (Either.isLeft(encoded)) return encodeAndEnqueue(registered, input, options)
    const request = requestFor(registered, encoded.right, options)
    const enqueued = emitNow === undefined ? undefined : enqueueNow?.(request, now)
    if (enqueued === undefined || emitNow === undefined) return enqueueAnnounced(request)
    if (Either.isLeft(enqueued)) return Either.left(enqueued.left)
    if (enqueued.right.committed !== undefined) return announce(enqueued.right)
    publishWith((type, build) => emitNow(type, build, now), enqueued.right)
    unsafeWake()
    return Either.right({ run: enqueued.right.run, disposition: enqueued.right.disposition })
  }

  const trigger = (job: Job.Any, input: unknown, options?: TriggerOptions) =>
    Effect.clockWith((clock) => unsafeTrigger(job, input, options, clock.unsafeCurrentTimeMillis()))

  const triggerByName = (jobName: string, input: unknown, options?: TriggerOptions) =>
    Effect.gen(function* () {
      const job = yield* registry.named(jobName)
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
      const registered = yield* registry.named(job.name)
      const requests = yield* Effect.forEach(items, (item) =>
        Effect.map(encodeInput(registered, item.input), (encoded) => requestFor(registered, encoded, item.options))
      )
      return yield* Effect.forEach(yield* store.enqueueBatch(requests), announce)
    })

  /** A new run with the same job, input and labels. */
  const retrigger = (runId: string) =>
    Effect.flatMap(store.getRun(runId), (run) =>
      enqueueAnnounced({ jobName: run.jobName, input: run.input, labels: run.labels })
    )

  return { trigger, unsafeTrigger, triggerByName, batchTrigger, retrigger }
}
