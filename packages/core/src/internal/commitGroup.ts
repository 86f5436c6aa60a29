// Step writes of runs executing at the same time, committed together when a
// commit waits for the disk (`synchronous = FULL`): each step still returns
// only once its own write is durable, but several runs share one fsync. A
// write opens a group when another run wrote last; the group gathers the
// writes that become ready before the fibers already scheduled have run, and
// commits them in one transaction. A run executing alone writes directly.
import type { SqlError } from "@effect/sql/SqlError"
import { Deferred, Effect, FiberId } from "effect"
import type { SyncConnection, SyncSqlite } from "../SyncSqlite.js"

/** One write: a statement on the connection, returning the rows it changed. */
export type GroupedWrite = (connection: SyncConnection) => number

interface Waiting {
  readonly write: GroupedWrite
  readonly done: Deferred.Deferred<number, SqlError>
}

export interface CommitGroup {
  /** Runs `write` for the run `runId`, alone or with others in one transaction; the rows it changed. */
  readonly submit: (runId: string, write: GroupedWrite) => Effect.Effect<number, SqlError>
}

export const make = (sync: SyncSqlite["Type"]): CommitGroup => {
  let open: Array<Waiting> | undefined
  let lastRunId: string | undefined

  const direct = (write: GroupedWrite) => sync.use(write)

  /** Each write on its own, with its own outcome (a group whose transaction failed). */
  const oneByOne = (group: ReadonlyArray<Waiting>) =>
    Effect.forEach(group, (waiting) => Deferred.complete(waiting.done, direct(waiting.write)), { discard: true })

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
        ? Deferred.complete(only.done, direct(only.write))
        : commit(group)
    })
  ).pipe(Effect.uninterruptible)

  const submit = (runId: string, write: GroupedWrite): Effect.Effect<number, SqlError> =>
    Effect.suspend(() => {
      const alone = open === undefined && runId === lastRunId
      lastRunId = runId
      if (alone) return direct(write)
      const waiting: Waiting = { write, done: Deferred.unsafeMake<number, SqlError>(FiberId.none) }
      if (open !== undefined) {
        open.push(waiting)
        return Deferred.await(waiting.done)
      }
      open = [waiting]
      return Effect.zipRight(gatherAndCommit, Deferred.await(waiting.done))
    })

  return { submit }
}
