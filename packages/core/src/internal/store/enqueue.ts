// Enqueueing through an executor (`SqlClient`, or PostgreSQL's prepared
// statements): one statement for a plain run, a write transaction for labels
// and coalescing, a transaction of a few multi-row inserts for a batch of
// plain runs. Inside the caller's open transaction every statement joins it,
// and each result carries `committed` (`joined.ts`).
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Option } from "effect"
import type { CorruptRowError } from "../../DurablyError.js"
import type { Run } from "../../Run.js"
import type { EnqueueRequest, Enqueued, Store } from "../../Store.js"
import { decodeRun } from "../rows.js"
import type { NewRun } from "../sql/shared.js"
import { insertRunValues } from "../sql/shared.js"
import type { Row } from "../sql/statement.js"
import { storeErrors } from "../transaction.js"
import type { StoreContext } from "./context.js"
import { join } from "./joined.js"

/** Runs per multi-row insert: 6 parameters each, well under PostgreSQL's 65,535 and SQLite's 32,766. */
const plainChunk = 500

/** The row values of a new run. */
export const newRun = (request: EnqueueRequest, id: string): NewRun => ({
  id,
  jobName: request.jobName,
  input: JSON.stringify(request.input ?? null),
  idempotencyKey: request.idempotencyKey ?? null,
  concurrencyKey: request.concurrencyKey ?? null,
  labels: JSON.stringify(request.labels ?? {})
})

/** The run just inserted, as the row now reads (no read back: every column is known). */
export const createdRun = (request: EnqueueRequest, row: NewRun, now: number): Run => ({
  id: row.id,
  jobName: request.jobName,
  status: "pending",
  input: JSON.parse(row.input) as unknown,
  output: null,
  error: null,
  labels: { ...request.labels },
  progress: null,
  idempotencyKey: row.idempotencyKey,
  concurrencyKey: row.concurrencyKey,
  leaseOwner: null,
  leaseExpiresAt: null,
  leaseGeneration: 0,
  attempt: 0,
  startedAt: null,
  completedAt: null,
  createdAt: new Date(now),
  updatedAt: new Date(now)
})

export const needsCoalescing = (request: EnqueueRequest): request is EnqueueRequest & { concurrencyKey: string } =>
  request.coalesce === "skip" && request.concurrencyKey !== undefined

export const labelsOf = (request: EnqueueRequest): ReadonlyArray<readonly [string, string]> =>
  Object.entries(request.labels ?? {})

/** A lone insert is atomic by itself; labels and coalescing need a transaction. */
export const needsTransaction = (request: EnqueueRequest): boolean =>
  needsCoalescing(request) || labelsOf(request).length > 0

/** No idempotency key, no coalescing, no labels: nothing to look up, only a row to add. */
const isPlain = (request: EnqueueRequest) => request.idempotencyKey === undefined && !needsTransaction(request)

const decodeAs =
  (disposition: Enqueued["disposition"]) =>
  (row: Row): Effect.Effect<Enqueued, CorruptRowError> =>
    Effect.map(decodeRun(row), (run) => ({ run, disposition }))

export const make = (context: StoreContext): Pick<Store["Type"], "enqueue" | "enqueueBatch"> => {
  const { dialect } = context

  const firstRow = (rows: ReadonlyArray<Row>) => Option.fromNullable(rows[0])

  const existingByIdempotencyKey = (request: EnqueueRequest) =>
    request.idempotencyKey === undefined
      ? Effect.succeed(Option.none<Row>())
      : Effect.map(
          context.run(dialect.runByIdempotencyKey, {
            jobName: request.jobName,
            idempotencyKey: request.idempotencyKey
          }),
          firstRow
        )

  const insertOrFind = (request: EnqueueRequest, now: number): Effect.Effect<Enqueued, SqlError | CorruptRowError> =>
    Effect.gen(function* () {
      const row = newRun(request, context.nextId(now))
      const [inserted] = yield* context.run(dialect.insertRun, insertRunValues(row, now))
      if (inserted !== undefined) {
        const labels = labelsOf(request)
        if (labels.length > 0) yield* context.runBound(dialect.insertLabels(row.id, labels))
        return { run: createdRun(request, row, now), disposition: "created" } satisfies Enqueued
      }
      const existing = yield* existingByIdempotencyKey(request)
      return yield* Option.match(existing, {
        // The conflicting run was deleted between our insert and this read: try again.
        onNone: () => insertOrFind(request, now),
        onSome: decodeAs("idempotent")
      })
    })

  /** One enqueue; runs inside a write transaction when it coalesces or has labels. */
  const enqueueIn = (request: EnqueueRequest, now: number): Effect.Effect<Enqueued, SqlError | CorruptRowError> =>
    Effect.gen(function* () {
      if (!needsCoalescing(request)) return yield* insertOrFind(request, now)
      if (dialect.coalesceLock !== undefined) {
        yield* context.run(dialect.coalesceLock, { concurrencyKey: request.concurrencyKey })
      }
      const existing = yield* existingByIdempotencyKey(request)
      if (Option.isSome(existing)) return yield* decodeAs("idempotent")(existing.value)
      const pending = yield* Effect.map(
        context.run(dialect.pendingWithKey, { concurrencyKey: request.concurrencyKey }),
        firstRow
      )
      if (Option.isSome(pending)) return yield* decodeAs("coalesced")(pending.value)
      return yield* insertOrFind(request, now)
    })

  /** Plain requests as multi-row inserts (one statement per chunk), ids in request order. */
  const insertPlain = (requests: ReadonlyArray<EnqueueRequest>, now: number) =>
    Effect.gen(function* () {
      const added = requests.map((request) => ({ request, row: newRun(request, context.nextId(now)) }))
      for (let start = 0; start < added.length; start += plainChunk) {
        const chunk = added.slice(start, start + plainChunk).map(({ row }) => row)
        yield* context.runBound(dialect.insertRuns(chunk, now))
      }
      return added.map(({ request, row }): Enqueued => ({ run: createdRun(request, row, now), disposition: "created" }))
    })

  const insertPlainOne = (request: EnqueueRequest, now: number) => {
    const row = newRun(request, context.nextId(now))
    return Effect.as(
      context.runBound(dialect.insertRuns([row], now)),
      { run: createdRun(request, row, now), disposition: "created" } satisfies Enqueued
    )
  }

  /** `results`, with `committed` when they joined the caller's transaction. */
  const joinedWhen = (caller: Option.Option<unknown>, results: ReadonlyArray<Enqueued>) =>
    Option.isSome(caller) ? join(context, results) : Effect.succeed(results)

  const callerTransaction = Effect.serviceOption(SqlClient.TransactionConnection)

  const enqueue = (request: EnqueueRequest) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const caller = yield* callerTransaction
      const result = yield* isPlain(request)
        ? insertPlainOne(request, now)
        : needsTransaction(request)
          ? context.transaction(enqueueIn(request, now))
          : enqueueIn(request, now)
      const [joined] = yield* joinedWhen(caller, [result])
      return joined ?? result
    }).pipe(storeErrors("enqueue"))

  const enqueueBatch = (requests: ReadonlyArray<EnqueueRequest>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const caller = yield* callerTransaction
      // Each statement may be a round trip: plain requests go in a few multi-row inserts.
      const results = yield* context.transaction(
        requests.every(isPlain) ? insertPlain(requests, now) : Effect.forEach(requests, (request) => enqueueIn(request, now))
      )
      return yield* joinedWhen(caller, results)
    }).pipe(storeErrors("enqueueBatch"))

  return { enqueue, enqueueBatch }
}
