// The lease protocol through an executor: the claim and a lease holder's
// fenced writes, each one statement (SQLite's terminal write with step cleanup
// is two, in one transaction; PostgreSQL's is one).
import { Clock, Effect, Option } from "effect"
import type { CorruptRowError } from "../../DurablyError.js"
import type { Run } from "../../Run.js"
import type { ClaimOptions, Lease, LogWrite, StepWrite, Store } from "../../Store.js"
import { decodeRun, toJson } from "../rows.js"
import type { Row, Statement } from "../sql/statement.js"
import { storeErrors } from "../transaction.js"
import type { StoreContext } from "./context.js"
import type { ClaimedRun, Finish } from "./hotPath.js"
import { held, terminalWrites } from "./hotPath.js"

type Operations = Pick<
  Store["Type"],
  "claim" | "renew" | "persistStep" | "progress" | "log" | "complete" | "fail" | "release"
>

/** The claim's values, shared by every way of running it. */
export const claimValues = (context: StoreContext, options: ClaimOptions, now: number): Row => ({
  workerId: options.workerId,
  now,
  leaseMs: options.leaseMs,
  jobs: context.dialect.jobs(options.jobNames)
})

/** The values of a step write. */
export const stepValues = (step: StepWrite): Row => ({
  name: step.name,
  index: step.index,
  status: step.status,
  output: toJson(step.output),
  error: step.error ?? null,
  startedAt: step.startedAt
})

/** The values of a log entry. */
export const logValues = (entry: LogWrite): Row => ({
  stepName: entry.stepName,
  level: entry.level,
  message: entry.message,
  data: toJson(entry.data)
})

/** The claimed row as a run; a row that cannot be decoded fails its run at once, so it never blocks the queue. */
export const claimedRunOf =
  (context: StoreContext): ClaimedRun =>
  (row) =>
    row === undefined
      ? Effect.succeed(Option.none<Run>())
      : decodeRun(row).pipe(
          Effect.map(Option.some),
          Effect.catchTag("CorruptRowError", (error: CorruptRowError) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              context.run(context.dialect.failCorruptClaim, {
                error: error.message,
                now,
                runId: error.runId,
                generation: Number(row["lease_generation"])
              })
            ).pipe(Effect.zipRight(Effect.fail(error)))
          )
        )

export const make = (context: StoreContext): Operations => {
  const { dialect } = context
  const claimedRun = claimedRunOf(context)

  /** One fenced statement at the current time; a matched row means the lease still held. */
  const fenced = (operation: string, statement: Statement, lease: Lease, values: Row) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      context.run(statement, { ...values, now, runId: lease.runId, generation: lease.generation })
    ).pipe(
      Effect.flatMap((rows) => held(lease, rows.length)),
      storeErrors(operation)
    )

  const claim = (options: ClaimOptions) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => context.run(dialect.claim, claimValues(context, options, now))).pipe(
      Effect.flatMap((rows) => claimedRun(rows[0])),
      storeErrors("claim")
    )

  const renew = (lease: Lease, leaseMs: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.as(fenced("renew", dialect.renew, lease, { expiresAt: now + leaseMs, leaseMs }), now + leaseMs)
    )

  const finish: Finish = (operation, lease, status, fields, options) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const values = { ...fields, status, now, runId: lease.runId, generation: lease.generation }
      const cleaning = options.deleteSteps ? dialect.finishCleaning : undefined
      const rows = yield* !options.deleteSteps
        ? context.run(dialect.finish, values)
        : cleaning !== undefined
          ? context.run(cleaning, values)
          : context.transaction(
              Effect.tap(context.run(dialect.finish, values), (rows) =>
                rows.length > 0 ? context.run(dialect.deleteStepOutputs, { runId: lease.runId }) : Effect.void
              )
            )
      yield* held(lease, rows.length)
    }).pipe(storeErrors(operation))

  return {
    claim,
    renew,
    persistStep: (lease, step) => fenced("persistStep", dialect.persistStep, lease, stepValues(step)),
    progress: (lease, value) => fenced("progress", dialect.progress, lease, { progress: toJson(value) }),
    log: (lease, entry) => fenced("log", dialect.log, lease, logValues(entry)),
    ...terminalWrites(finish),
    release: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        context.run(dialect.release, { now, runId: lease.runId, generation: lease.generation })
      ).pipe(Effect.asVoid, storeErrors("release"))
  }
}
