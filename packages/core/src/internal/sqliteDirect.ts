// The store's hot path on SQLite, run on prepared statements through
// `SyncSqlite`: enqueue, claim, the fenced writes of a lease holder and its
// terminal write. The statements are those of `SqlStore`'s SQLite branches; a
// multi-statement operation is one synchronous transaction, so nothing
// interleaves with it. Rows are decoded after the connection is given back.
import { Clock, Effect, Either } from "effect"
import type { CorruptRowError } from "../DurablyError.js"
import { StoreError } from "../DurablyError.js"
import type { Run } from "../Run.js"
import type { EnqueueRequest, Enqueued, Lease, LogWrite, StepWrite, Store } from "../Store.js"
import type { SyncConnection, SyncSqlite } from "../SyncSqlite.js"
import * as CommitGroup from "./commitGroup.js"
import type { ClaimedRun, Finish, Row } from "./hotPath.js"
import { held, terminalWrites } from "./hotPath.js"
import { idempotencyConflict, keyBlocks, stepAttempt, unfinished } from "./migrations.js"
import { decodeRun, toJson } from "./rows.js"
import { makeRunIdSource } from "./runId.js"
import { storeErrors } from "./transaction.js"

const fence = `id = @runId AND status = 'leased' AND lease_generation = @generation`

/** A statement written with named parameters, run with positional ones. */
interface Positional {
  readonly sql: string
  readonly names: ReadonlyArray<string>
}

// better-sqlite3 binds a named parameter by looking its name up in the object
// given, which costs more than the step insert itself; so the names are read
// once here and `?` placeholders bound in order.
const positional = (text: string): Positional => {
  const names: Array<string> = []
  const sql = text.replace(/@(\w+)/g, (_, name: string) => {
    names.push(name)
    return "?"
  })
  return { sql, names }
}

/** The positional parameters of `statement`, taken by name from `params`. */
const bind = (statement: Positional, params: Row): Array<unknown> => statement.names.map((name) => params[name])

/** Runs `statement` with its named parameters taken from `params`; its rows. */
const all = (c: SyncConnection, statement: Positional, params: Row) => c.prepare(statement.sql).all(...bind(statement, params))

/** Runs `statement`, which returns no rows, with its named parameters taken from `params`. */
const run = (c: SyncConnection, statement: Positional, params: Row) => c.prepare(statement.sql).run(...bind(statement, params))

const named = {
  insertRun: `INSERT INTO durably_runs
      (id, job_name, input, status, idempotency_key, concurrency_key, labels, created_at, updated_at)
    VALUES (@id, @jobName, @input, 'pending', @idempotencyKey, @concurrencyKey, @labels, @now, @now)
    ${idempotencyConflict}`,
  insertLabel: `INSERT INTO durably_run_labels (run_id, key, value) VALUES (?, ?, ?)`,
  byIdempotencyKey: `SELECT * FROM durably_runs WHERE job_name = ? AND idempotency_key = ?`,
  pendingWithKey: `SELECT * FROM durably_runs WHERE concurrency_key = ? AND status = 'pending' AND ${unfinished}
    ORDER BY id LIMIT 1`,
  // The claimable index, named: left to itself the planner walks the status index
  // and sorts every pending run, so a claim would slow down as the queue grows.
  claim: `UPDATE durably_runs SET
        status = 'leased',
        lease_owner = @workerId,
        lease_expires_at = @expiresAt,
        lease_ms = @leaseMs,
        lease_generation = lease_generation + 1,
        attempt = attempt + 1,
        started_at = COALESCE(started_at, @now),
        updated_at = @now
      WHERE id = (
        SELECT r.id FROM durably_runs r INDEXED BY durably_runs_claimable
        WHERE r.status IN ('pending', 'leased')
          AND (r.status = 'pending' OR r.lease_expires_at <= @now)
          AND (r.concurrency_key IS NULL OR NOT EXISTS (${keyBlocks("r", "@now")}))
        ORDER BY r.id
        LIMIT 1
      )
      RETURNING *`,
  renew: `UPDATE durably_runs SET lease_expires_at = @expiresAt, lease_ms = @leaseMs, updated_at = @now
    WHERE ${fence} AND lease_expires_at > @now`,
  // The heartbeat trigger on durably_steps extends the lease.
  persistStep: `INSERT INTO durably_steps (run_id, name, "index", attempt, status, output, error, started_at, completed_at)
    SELECT id, @name, @index, ${stepAttempt("@status")}, @status, @output, @error, @startedAt, @now
    FROM durably_runs WHERE ${fence}`,
  progress: `UPDATE durably_runs SET progress = @progress, updated_at = @now WHERE ${fence}`,
  log: `INSERT INTO durably_logs (run_id, step_name, level, message, data, created_at)
    SELECT id, @stepName, @level, @message, @data, @now
    FROM durably_runs WHERE ${fence}`,
  finish: `UPDATE durably_runs SET status = @status, output = @output, error = @error,
      completed_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = NULL
    WHERE ${fence} AND lease_expires_at > @now`,
  deleteStepOutputs: `DELETE FROM durably_steps WHERE run_id = ? AND status = 'completed'`,
  release: `UPDATE durably_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
    WHERE ${fence}`
} as const

const statements = Object.fromEntries(
  Object.entries(named).map(([key, text]) => [key, positional(text)])
) as { readonly [K in keyof typeof named]: Positional }

type Operations = Pick<
  Store["Type"],
  | "enqueue"
  | "enqueueNow"
  | "enqueueBatch"
  | "claim"
  | "renew"
  | "persistStep"
  | "progress"
  | "log"
  | "complete"
  | "fail"
  | "release"
>

/** What one enqueue found: a run it created, or a row already there. */
type Outcome =
  | { readonly _tag: "created"; readonly run: Run }
  | { readonly _tag: "existing"; readonly row: Row; readonly disposition: "idempotent" | "coalesced" }

/**
 * The hot operations on `sync`. `claimedRun` and `createdRun` are the store's
 * own, so every path treats a claimed row and a new run alike.
 */
export const make = (
  sync: SyncSqlite["Type"],
  claimedRun: ClaimedRun,
  createdRun: (request: EnqueueRequest, id: string, inputJson: string, now: number) => Run
): Operations => {
  const nextId = makeRunIdSource()

  const byItself = CommitGroup.alone(sync)
  // With durable commits, the step and terminal writes of runs executing at the same time share one.
  const together = sync.durableCommits ? CommitGroup.make(sync) : byItself

  /**
   * One fenced statement at the current time, committed by `commit`; a changed
   * row means the lease still held.
   */
  const fenced = (
    operation: string,
    statement: Positional,
    lease: Lease,
    params: Row,
    commit: CommitGroup.Commit = byItself
  ) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      commit(lease.runId, (c) =>
        run(c, statement, { ...params, now, runId: lease.runId, generation: lease.generation }).changes
      )
    ).pipe(
      // Rows changed by the statement itself; the heartbeat trigger's update is not counted.
      Effect.flatMap((changed) => held(lease, changed)),
      storeErrors(operation)
    )

  const enqueueOne = (c: SyncConnection, request: EnqueueRequest, now: number): Outcome => {
    if (request.coalesce === "skip" && request.concurrencyKey !== undefined) {
      const existing = findByIdempotencyKey(c, request)
      if (existing !== undefined) return { _tag: "existing", row: existing, disposition: "idempotent" }
      const pending = c.prepare(statements.pendingWithKey.sql).all(request.concurrencyKey)[0]
      if (pending !== undefined) return { _tag: "existing", row: pending, disposition: "coalesced" }
    }
    while (true) {
      const id = nextId(now)
      const input = JSON.stringify(request.input ?? null)
      const inserted = run(c, statements.insertRun, {
        id,
        jobName: request.jobName,
        input,
        idempotencyKey: request.idempotencyKey ?? null,
        concurrencyKey: request.concurrencyKey ?? null,
        labels: JSON.stringify(request.labels ?? {}),
        now
      })
      if (inserted.changes > 0) {
        const insertLabel = c.prepare(statements.insertLabel.sql)
        for (const [key, value] of Object.entries(request.labels ?? {})) insertLabel.run(id, key, value)
        return { _tag: "created", run: createdRun(request, id, input, now) }
      }
      // The conflicting run may have been deleted since the insert: then try again.
      const existing = findByIdempotencyKey(c, request)
      if (existing !== undefined) return { _tag: "existing", row: existing, disposition: "idempotent" }
    }
  }

  const findByIdempotencyKey = (c: SyncConnection, request: EnqueueRequest): Row | undefined =>
    request.idempotencyKey === undefined
      ? undefined
      : c.prepare(statements.byIdempotencyKey.sql).all(request.jobName, request.idempotencyKey)[0]

  const toEnqueued = (outcome: Outcome): Either.Either<Enqueued, CorruptRowError> =>
    outcome._tag === "created"
      ? Either.right({ run: outcome.run, disposition: "created" })
      : Either.map(decodeRun(outcome.row), (run) => ({ run, disposition: outcome.disposition }))

  /** A lone insert is atomic by itself; labels and coalescing need a transaction. */
  const needsTransaction = (request: EnqueueRequest) =>
    (request.coalesce === "skip" && request.concurrencyKey !== undefined) ||
    Object.keys(request.labels ?? {}).length > 0

  const enqueueAt = (c: SyncConnection, request: EnqueueRequest, now: number): Outcome =>
    needsTransaction(request) ? c.transaction(() => enqueueOne(c, request, now)) : enqueueOne(c, request, now)

  const enqueue = (request: EnqueueRequest) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => sync.use((c) => enqueueAt(c, request, now))).pipe(
      Effect.flatMap(toEnqueued),
      storeErrors("enqueue")
    )

  const enqueueNow = (request: EnqueueRequest, now: number) => {
    const outcome = sync.useNow((c) => enqueueAt(c, request, now))
    if (outcome === undefined) return undefined
    return Either.isLeft(outcome)
      ? Either.left(new StoreError({ operation: "enqueue", cause: outcome.left }))
      : toEnqueued(outcome.right)
  }

  const enqueueBatch = (requests: ReadonlyArray<EnqueueRequest>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sync.use((c) => c.transaction(() => requests.map((request) => enqueueOne(c, request, now))))
    ).pipe(Effect.flatMap(Effect.forEach(toEnqueued)), storeErrors("enqueueBatch"))

  const claim = (options: { readonly workerId: string; readonly leaseMs: number }) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      // Relaxed: a claim lost in a crash of the machine is harmless, since its holder died with it
      // and the run is claimable again; the run's first durable write makes the claim durable too.
      sync.use((c) =>
        c.relaxed(
          () =>
            all(c, statements.claim, {
              workerId: options.workerId,
              expiresAt: now + options.leaseMs,
              leaseMs: options.leaseMs,
              now
            })[0]
        )
      )
    ).pipe(Effect.flatMap(claimedRun), storeErrors("claim"))

  const renew = (lease: Lease, leaseMs: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.as(fenced("renew", statements.renew, lease, { expiresAt: now + leaseMs, leaseMs }), now + leaseMs)
    )

  const persistStep = (lease: Lease, step: StepWrite) =>
    fenced(
      "persistStep",
      statements.persistStep,
      lease,
      {
        name: step.name,
        index: step.index,
        status: step.status,
        output: toJson(step.output),
        error: step.error ?? null,
        startedAt: step.startedAt
      },
      together
    )

  const progress = (lease: Lease, value: Run["progress"]) =>
    fenced("progress", statements.progress, lease, { progress: toJson(value) })

  const log = (lease: Lease, entry: LogWrite) =>
    fenced("log", statements.log, lease, {
      stepName: entry.stepName,
      level: entry.level,
      message: entry.message,
      data: toJson(entry.data)
    })

  // The terminal write deletes step outputs in the same transaction, so it is atomic.
  const finish: Finish = (operation, lease, status, fields, options) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const update = (c: SyncConnection) => {
        const changed = run(c, statements.finish, {
          ...fields,
          status,
          now,
          runId: lease.runId,
          generation: lease.generation
        }).changes
        if (changed > 0 && options.deleteSteps) c.prepare(statements.deleteStepOutputs.sql).run(lease.runId)
        return changed
      }
      return together(lease.runId, update, options.deleteSteps)
    }).pipe(
      Effect.flatMap((changed) => held(lease, changed)),
      storeErrors(operation)
    )

  return {
    enqueue,
    enqueueNow,
    enqueueBatch,
    claim,
    renew,
    persistStep,
    progress,
    log,
    ...terminalWrites(finish),
    release: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sync.use((c) =>
          run(c, statements.release, { now, runId: lease.runId, generation: lease.generation })
        )
      ).pipe(Effect.asVoid, storeErrors("release"))
  }
}
