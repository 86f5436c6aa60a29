// Step and terminal writes of runs executing at the same time, committed
// together when a commit waits for the disk (`synchronous = FULL`): each step still returns
// only once its own write is durable, but several runs share one fsync. A
// write opens a group when another run wrote last; the group gathers the
// writes that become ready before the fibers already scheduled have run, and
// commits them in one transaction. A run executing alone writes directly.
import type { SqlError } from "@effect/sql/SqlError"
import { SqlClient } from "@effect/sql"
import { Deferred, Effect, FiberId, Option } from "effect"
import type { SyncConnection, SyncSqlite } from "./syncSqlite.js"

/** One write: a statement on the connection, returning the rows it changed. */
export type GroupedWrite = (connection: SyncConnection) => number

interface Waiting {
  readonly write: GroupedWrite
  readonly atomic: boolean
  readonly done: Deferred.Deferred<number, SqlError>
}

/**
 * Runs `write` for the run `runId`; the rows it changed. An `atomic` write of
 * several statements runs in a transaction (of its own when it runs alone).
 */
export type Commit = (runId: string, write: GroupedWrite, atomic?: boolean) => Effect.Effect<number, SqlError>

/** Each write committed by itself, at once. */
export const alone =
  (sync: SyncSqlite["Type"]): Commit =>
  (_runId, write, atomic = false) =>
    sync.use(atomic ? (c) => c.transaction(() => write(c)) : write)

/** Writes committed together with other runs' writes that are ready at the same time. */
export const make = (sync: SyncSqlite["Type"]): Commit => {
  let open: Array<Waiting> | undefined
  let lastRunId: string | undefined

  const byItself = alone(sync)
  /** A waiting write committed by itself, completing its waiter. */
  const single = (waiting: Waiting) =>
    Deferred.complete(waiting.done, byItself("", waiting.write, waiting.atomic))

  /** Each write on its own, with its own outcome (a group whose transaction failed). */
  const oneByOne = (group: ReadonlyArray<Waiting>) =>
    Effect.forEach(group, single, { discard: true })

  const commit = (group: ReadonlyArray<Waiting>) =>
    Effect.flatMap(
      Effect.either(sync.use((c) => c.transaction(() => group.map((waiting) => waiting.write(c))))),
      (result) =>
        result._tag === "Left"
          ? oneByOne(group)
          : Effect.forEach(group, (waiting, i) => Deferred.succeed(waiting.done, result.right[i] ?? 0), {
              discard: true
            })
    )

  /** Lets the fibers already scheduled run (and join the group), then commits it. */
  const gatherAndCommit = Effect.zipRight(
    Effect.yieldNow(),
    Effect.suspend(() => {
      const group = open ?? []
      open = undefined
      const only = group[0]
      return group.length === 1 && only !== undefined
        ? single(only)
        : commit(group)
    })
  ).pipe(Effect.uninterruptible)

  const grouped: Commit = (runId, write, atomic = false) =>
    Effect.suspend(() => {
      const sameRunAgain = open === undefined && runId === lastRunId
      lastRunId = runId
      if (sameRunAgain) return byItself(runId, write, atomic)
      const waiting: Waiting = { write, atomic, done: Deferred.unsafeMake<number, SqlError>(FiberId.none) }
      if (open !== undefined) {
        open.push(waiting)
        return Deferred.await(waiting.done)
      }
      open = [waiting]
      return Effect.zipRight(gatherAndCommit, Deferred.await(waiting.done))
    })

  // A write from inside the caller's own `SqlClient` transaction runs in that
  // transaction, as any direct write does; it must neither take other runs'
  // writes into it nor wait for a group that waits for the transaction.
  return (runId, write, atomic) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
      Option.isSome(transaction) ? byItself(runId, write, atomic) : grouped(runId, write, atomic)
    )
}
