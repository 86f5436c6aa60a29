// An enqueue inside the caller's open `SqlClient` transaction takes part in it,
// and tells how it ended through `Enqueued.committed`, exactly:
//
// - SQLite: the transaction holds the only connection until it ends, so a
//   statement run outside it waits for exactly that; it then reads the run.
// - PostgreSQL: the enqueue takes a shared advisory lock inside the
//   transaction, which the server holds until the transaction has ended (and
//   its rows are visible). `committed` tries the lock exclusively, each try an
//   autocommit statement of its own so no pooled connection is held while
//   waiting, until it gets it; then it reads the run.
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Context, Effect, Schedule } from "effect"
import type { Enqueued } from "../../Store.js"
import { joined as pgJoined } from "../sql/pg.js"
import type { StoreContext } from "./context.js"

/** Runs `effect` outside the caller's transaction, though it may be forked from inside it. */
const outsideTransaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.mapInputContext(effect, (context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context))

// How often a question is asked again: at first soon (most transactions are
// short), then every 50 ms. Paced by the live clock: the waits only space the
// questions, and under a test clock they would never end.
const pacing = Schedule.exponential("1 millis", 2).pipe(Schedule.union(Schedule.spaced("50 millis")))
const liveClock = Clock.make()

/** Asks `question` until it answers; a database error asks again. */
const answered = (question: Effect.Effect<boolean, SqlError>): Effect.Effect<boolean> =>
  question.pipe(Effect.retry(pacing), Effect.orDie, Effect.withClock(liveClock))

/**
 * The enqueues `results` made inside the caller's open transaction, each with
 * its `committed`. The run ids are known; the first names the batch on PostgreSQL.
 */
export const join = (
  context: StoreContext,
  results: ReadonlyArray<Enqueued>
): Effect.Effect<ReadonlyArray<Enqueued>, SqlError> =>
  Effect.gen(function* () {
    const { dialect } = context
    const exists = (runId: string) =>
      Effect.map(context.outside(dialect.statusOf, [runId]), (rows) => rows.length > 0)
    const token = results[0]?.run.id
    if (token === undefined) return results
    let ended: Effect.Effect<unknown> = Effect.void
    if (dialect.name === "pg") {
      yield* context.generic(pgJoined.lock, [token])
      // A failed try counts as "not yet": the answer is shared (cached) by the batch's runs.
      const tryEnded = Effect.map(context.outside(pgJoined.ended, [token]), (rows) => rows[0]?.["ended"] === true).pipe(
        Effect.orElseSucceed(() => false)
      )
      ended = yield* Effect.cached(
        Effect.repeat(tryEnded, { schedule: pacing, until: (done) => done }).pipe(Effect.withClock(liveClock))
      )
    }
    return results.map(
      (result): Enqueued => ({
        ...result,
        committed: answered(Effect.zipRight(ended, exists(result.run.id))).pipe(outsideTransaction)
      })
    )
  })
