// The store's hot path on PostgreSQL: a plain trigger, the claim, the fenced
// writes of a lease holder and its terminal write, each one statement. They
// run as named prepared statements when the client offers `PreparedSql`, else
// through `SqlClient` (`unsafe`, same text and parameters).
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect } from "effect"
import type { Run } from "../Run.js"
import type { EnqueueRequest, Enqueued, Lease, LogWrite, StepWrite, Store } from "../Store.js"
import type { ClaimedRun, Finish, Row } from "./hotPath.js"
import { held, terminalWrites } from "./hotPath.js"
import { stepAttempt } from "./migrations.js"
import { toJson } from "./rows.js"
import { storeErrors } from "./transaction.js"

/** Runs one statement: `name` identifies `text` when it is prepared. */
export type Execute = (
  name: string,
  text: string,
  params: ReadonlyArray<unknown>
) => Effect.Effect<ReadonlyArray<Row>, SqlError>

const finishUpdate = `UPDATE durably_runs SET status = $1, output = $2, error = $3,
      completed_at = $4, updated_at = $4, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $5 AND status = 'leased' AND lease_generation = $6 AND lease_expires_at > $4
    RETURNING id`

const statements = {
  insertRun: `INSERT INTO durably_runs
      (id, job_name, input, status, idempotency_key, concurrency_key, labels, created_at, updated_at)
    VALUES ($1, $2, $3, 'pending', NULL, $4, '{}', $5, $5)`,
  claim: `SELECT * FROM durably_claim($1, $2, $3)`,
  renew: `UPDATE durably_runs SET lease_expires_at = $1, lease_ms = $2, updated_at = $3
    WHERE id = $4 AND status = 'leased' AND lease_generation = $5 AND lease_expires_at > $3
    RETURNING id`,
  // A step write is the heartbeat: the CTE extends the lease it was fenced by.
  persistStep: `WITH heartbeat AS (
      UPDATE durably_runs SET lease_expires_at = $1 + lease_ms, updated_at = $1
      WHERE id = $2 AND status = 'leased' AND lease_generation = $3
      RETURNING id, attempt
    )
    INSERT INTO durably_steps (run_id, name, "index", attempt, status, output, error, started_at, completed_at)
    SELECT id, $4, CAST($5 AS INTEGER), ${stepAttempt("$6")}, $6, $7, $8, CAST($9 AS BIGINT), CAST($1 AS BIGINT)
    FROM heartbeat
    RETURNING run_id`,
  progress: `UPDATE durably_runs SET progress = $1, updated_at = $2
    WHERE id = $3 AND status = 'leased' AND lease_generation = $4
    RETURNING id`,
  log: `INSERT INTO durably_logs (run_id, step_name, level, message, data, created_at)
    SELECT id, $1, $2, $3, $4, CAST($5 AS BIGINT)
    FROM durably_runs WHERE id = $6 AND status = 'leased' AND lease_generation = $7
    RETURNING run_id`,
  finish: finishUpdate,
  // Completed steps hold the outputs; failed-step records stay as history.
  finishCleaning: `WITH done AS (${finishUpdate}),
      cleanup AS (DELETE FROM durably_steps WHERE status = 'completed' AND run_id IN (SELECT id FROM done))
    SELECT * FROM done`,
  release: `UPDATE durably_runs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
    WHERE id = $2 AND status = 'leased' AND lease_generation = $3`
} as const

type Name = keyof typeof statements

type Operations = Pick<
  Store["Type"],
  "enqueue" | "claim" | "renew" | "persistStep" | "progress" | "log" | "complete" | "fail" | "release"
>

/** What the hot path takes from the store: its own ways to name, build and claim runs. */
export interface Shared {
  readonly claimedRun: ClaimedRun
  readonly nextId: Effect.Effect<string>
  readonly createdRun: (request: EnqueueRequest, id: string, inputJson: string, now: number) => Run
  /** No idempotency key, no labels, no coalescing: one insert and nothing to look up. */
  readonly isPlain: (request: EnqueueRequest) => boolean
  /** The store's enqueue, for every other request. */
  readonly enqueue: Store["Type"]["enqueue"]
}

/** The hot operations over `execute`, with the store's own `shared` pieces so every path agrees. */
export const make = (execute: Execute, shared: Shared): Operations => {
  const { claimedRun } = shared
  const run = (name: Name, params: ReadonlyArray<unknown>) => execute(`durably_${name}`, statements[name], params)

  const enqueue = (request: EnqueueRequest) =>
    shared.isPlain(request)
      ? Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const id = yield* shared.nextId
          const input = JSON.stringify(request.input ?? null)
          yield* run("insertRun", [id, request.jobName, input, request.concurrencyKey ?? null, now])
          return { run: shared.createdRun(request, id, input, now), disposition: "created" } satisfies Enqueued
        }).pipe(storeErrors("enqueue"))
      : shared.enqueue(request)

  /** One fenced statement; a matched row means the lease still held. */
  const fenced = (operation: string, lease: Lease, statement: Effect.Effect<ReadonlyArray<Row>, SqlError>) =>
    statement.pipe(
      Effect.flatMap((rows) => held(lease, rows.length)),
      storeErrors(operation)
    )

  const claim = (options: { readonly workerId: string; readonly leaseMs: number }) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => run("claim", [options.workerId, now, options.leaseMs])).pipe(
      Effect.flatMap((rows) => claimedRun(rows[0])),
      storeErrors("claim")
    )

  const renew = (lease: Lease, leaseMs: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.as(
        fenced("renew", lease, run("renew", [now + leaseMs, leaseMs, now, lease.runId, lease.generation])),
        now + leaseMs
      )
    )

  const persistStep = (lease: Lease, step: StepWrite) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      fenced(
        "persistStep",
        lease,
        run("persistStep", [
          now,
          lease.runId,
          lease.generation,
          step.name,
          step.index,
          step.status,
          toJson(step.output),
          step.error ?? null,
          step.startedAt
        ])
      )
    )

  const progress = (lease: Lease, value: Run["progress"]) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      fenced("progress", lease, run("progress", [toJson(value), now, lease.runId, lease.generation]))
    )

  const log = (lease: Lease, entry: LogWrite) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      fenced(
        "log",
        lease,
        run("log", [entry.stepName, entry.level, entry.message, toJson(entry.data), now, lease.runId, lease.generation])
      )
    )

  const finish: Finish = (operation, lease, status, fields, options) =>
    fenced(
      operation,
      lease,
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        run(options.deleteSteps ? "finishCleaning" : "finish", [
          status,
          fields.output,
          fields.error,
          now,
          lease.runId,
          lease.generation
        ])
      )
    )

  return {
    enqueue,
    claim,
    renew,
    persistStep,
    progress,
    log,
    ...terminalWrites(finish),
    release: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => run("release", [now, lease.runId, lease.generation])).pipe(
        Effect.asVoid,
        storeErrors("release")
      )
  }
}
