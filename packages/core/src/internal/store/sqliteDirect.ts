// The store's hot path on SQLite, run on prepared statements through
// `SyncSqlite`: enqueue, claim, the fenced writes of a lease holder and its
// terminal write, with the statements of `sql/sqlite.ts`. A multi-statement
// operation is one synchronous transaction, so nothing interleaves with it.
// Rows are decoded after the connection is given back. An enqueue inside the
// caller's open transaction goes through `SqlClient` instead (`enqueue.ts`),
// which runs it in that transaction and tells how it ended.
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Either, Option } from "effect"
import type { CorruptRowError } from "../../DurablyError.js"
import { StoreError } from "../../DurablyError.js"
import type { ClaimOptions, EnqueueRequest, Enqueued, Lease, Store } from "../../Store.js"
import * as CommitGroup from "../commitGroup.js"
import { decodeRun, toJson } from "../rows.js"
import { insertRunValues } from "../sql/shared.js"
import { counted } from "../sql/sqlite.js"
import type { Row, Statement } from "../sql/statement.js"
import { bind } from "../sql/statement.js"
import type { EnqueueNow } from "../storeDoors.js"
import type { SyncConnection, SyncSqlite } from "../syncSqlite.js"
import { storeErrors } from "../transaction.js"
import type { StoreContext } from "./context.js"
import { createdRun, labelsOf, needsCoalescing, needsTransaction, newRun } from "./enqueue.js"
import type { Finish } from "./hotPath.js"
import { held, terminalWrites } from "./hotPath.js"
import { claimValues, claimedRunOf, logValues, stepValues } from "./lease.js"

/** Runs `statement` with its named parameters taken from `values`; its rows. */
const all = (c: SyncConnection, statement: Statement, values: Row) => c.prepare(statement.text).all(...bind(statement, values))

/** Runs `statement` with its named parameters taken from `values`; the rows it changed. */
const run = (c: SyncConnection, statement: Statement, values: Row) =>
  c.prepare(statement.text).run(...bind(statement, values)).changes

type Operations = Pick<
  Store["Type"],
  "enqueue" | "enqueueBatch" | "claim" | "renew" | "persistStep" | "progress" | "log" | "complete" | "fail" | "release"
>

/** What one enqueue found: a run it created, or a row already there. */
type Outcome =
  | { readonly _tag: "created"; readonly enqueued: Enqueued }
  | { readonly _tag: "existing"; readonly row: Row; readonly disposition: "idempotent" | "coalesced" }

/**
 * The hot operations on `sync`, and the synchronous enqueue. `viaClient` is
 * the store's enqueue through `SqlClient`, for callers inside a transaction.
 */
export const make = (
  context: StoreContext,
  sync: SyncSqlite["Type"],
  viaClient: Pick<Store["Type"], "enqueue" | "enqueueBatch">
): { readonly operations: Operations; readonly enqueueNow: EnqueueNow } => {
  const { dialect } = context
  const claimedRun = claimedRunOf(context)
  const byItself = CommitGroup.alone(sync)
  // With durable commits, the step and terminal writes of runs executing at the same time share one.
  const together = sync.durableCommits ? CommitGroup.make(sync) : byItself

  /** One fenced statement at the current time, committed by `commit`; a changed row means the lease still held. */
  const fenced = (
    operation: string,
    statement: Statement,
    lease: Lease,
    values: Row,
    commit: CommitGroup.Commit = byItself
  ) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      commit(lease.runId, (c) => run(c, statement, { ...values, now, runId: lease.runId, generation: lease.generation }))
    ).pipe(
      // Rows changed by the statement itself; the heartbeat trigger's update is not counted.
      Effect.flatMap((changed) => held(lease, changed)),
      storeErrors(operation)
    )

  const findByIdempotencyKey = (c: SyncConnection, request: EnqueueRequest): Row | undefined =>
    request.idempotencyKey === undefined
      ? undefined
      : all(c, dialect.runByIdempotencyKey, { jobName: request.jobName, idempotencyKey: request.idempotencyKey })[0]

  const enqueueOne = (c: SyncConnection, request: EnqueueRequest, now: number): Outcome => {
    if (needsCoalescing(request)) {
      const existing = findByIdempotencyKey(c, request)
      if (existing !== undefined) return { _tag: "existing", row: existing, disposition: "idempotent" }
      const pending = all(c, dialect.pendingWithKey, { concurrencyKey: request.concurrencyKey })[0]
      if (pending !== undefined) return { _tag: "existing", row: pending, disposition: "coalesced" }
    }
    while (true) {
      const row = newRun(request, context.nextId(now))
      if (run(c, counted.insertRun, insertRunValues(row, now)) > 0) {
        const labels = labelsOf(request)
        if (labels.length > 0) {
          const { statement, params } = dialect.insertLabels(row.id, labels)
          c.prepare(statement.text).run(...params)
        }
        return { _tag: "created", enqueued: { run: createdRun(request, row, now), disposition: "created" } }
      }
      // The conflicting run may have been deleted since the insert: then try again.
      const existing = findByIdempotencyKey(c, request)
      if (existing !== undefined) return { _tag: "existing", row: existing, disposition: "idempotent" }
    }
  }

  const toEnqueued = (outcome: Outcome): Either.Either<Enqueued, CorruptRowError> =>
    outcome._tag === "created"
      ? Either.right(outcome.enqueued)
      : Either.map(decodeRun(outcome.row), (run) => ({ run, disposition: outcome.disposition }))

  const enqueueAt = (c: SyncConnection, request: EnqueueRequest, now: number): Outcome =>
    needsTransaction(request) ? c.transaction(() => enqueueOne(c, request, now)) : enqueueOne(c, request, now)

  /** `direct`, unless the caller has a transaction open: then `inTransaction`. */
  const unlessInTransaction = <A, E, R>(inTransaction: Effect.Effect<A, E, R>, direct: Effect.Effect<A, E, R>) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
      Option.isSome(transaction) ? inTransaction : direct
    )

  const enqueue = (request: EnqueueRequest) =>
    unlessInTransaction(
      viaClient.enqueue(request),
      Effect.flatMap(Clock.currentTimeMillis, (now) => sync.use((c) => enqueueAt(c, request, now))).pipe(
        Effect.flatMap(toEnqueued),
        storeErrors("enqueue")
      )
    )

  const enqueueNow: EnqueueNow = (request, now) => {
    const outcome = sync.useNow((c) => enqueueAt(c, request, now))
    if (outcome === undefined) return undefined
    return Either.isLeft(outcome)
      ? Either.left(new StoreError({ operation: "enqueue", cause: outcome.left }))
      : toEnqueued(outcome.right)
  }

  const enqueueBatch = (requests: ReadonlyArray<EnqueueRequest>) =>
    unlessInTransaction(
      viaClient.enqueueBatch(requests),
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sync.use((c) => c.transaction(() => requests.map((request) => enqueueOne(c, request, now))))
      ).pipe(Effect.flatMap(Effect.forEach(toEnqueued)), storeErrors("enqueueBatch"))
    )

  const claim = (options: ClaimOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      // Relaxed: a claim lost in a crash of the machine is harmless, since its holder died with it
      // and the run is claimable again; the run's first durable write makes the claim durable too.
      sync.use((c) => c.relaxed(() => all(c, dialect.claim, claimValues(context, options, now))[0]))
    ).pipe(Effect.flatMap(claimedRun), storeErrors("claim"))

  // The terminal write deletes step outputs in the same transaction, so it is atomic.
  const finish: Finish = (operation, lease, status, fields, options) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const update = (c: SyncConnection) => {
        const values = { ...fields, status, now, runId: lease.runId, generation: lease.generation }
        const changed = run(c, counted.finish, values)
        if (changed > 0 && options.deleteSteps) run(c, dialect.deleteStepOutputs, values)
        return changed
      }
      return together(lease.runId, update, options.deleteSteps)
    }).pipe(
      Effect.flatMap((changed) => held(lease, changed)),
      storeErrors(operation)
    )

  const operations: Operations = {
    enqueue,
    enqueueBatch,
    claim,
    renew: (lease, leaseMs) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.as(fenced("renew", counted.renew, lease, { expiresAt: now + leaseMs, leaseMs }), now + leaseMs)
      ),
    persistStep: (lease, step) => fenced("persistStep", counted.persistStep, lease, stepValues(step), together),
    progress: (lease, value) => fenced("progress", counted.progress, lease, { progress: toJson(value) }),
    log: (lease, entry) => fenced("log", counted.log, lease, logValues(entry)),
    ...terminalWrites(finish),
    release: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sync.use((c) => run(c, dialect.release, { now, runId: lease.runId, generation: lease.generation }))
      ).pipe(Effect.asVoid, storeErrors("release"))
  }
  return { operations, enqueueNow }
}
