// State changes anyone may make, whatever lease a run has: cancel, retry,
// delete, purge, and returning expired leases to the queue.
import { Clock, Effect, Option } from "effect"
import type { StoreError } from "../../DurablyError.js"
import type { Store, TerminalOptions } from "../../Store.js"
import { decodeLabels, decodeRun } from "../rows.js"
import { storeErrors } from "../transaction.js"
import type { StoreContext } from "./context.js"

/** Runs whose dependents one statement deletes: well under either dialect's parameter limit. */
const dependentsChunk = 500

type Operations = Pick<Store["Type"], "cancel" | "retry" | "deleteRun" | "purge" | "releaseExpired">

export const make = (
  context: StoreContext
): { readonly operations: Operations; readonly releaseAll: Effect.Effect<number, StoreError> } => {
  const { dialect } = context

  const deleteDependents = (runIds: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      for (let start = 0; start < runIds.length; start += dependentsChunk) {
        const chunk = runIds.slice(start, start + dependentsChunk)
        yield* Effect.forEach(dialect.deleteDependents(chunk), context.runBound, { discard: true })
      }
    })

  const cancel = (runId: string, options: TerminalOptions) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const [row] = yield* context.run(dialect.cancel, { runId, now })
      if (row === undefined) return yield* context.explainMiss(runId, "cancel")
      if (options.deleteSteps) yield* context.run(dialect.deleteStepOutputs, { runId })
      return row
    }).pipe(context.transaction, Effect.flatMap(decodeRun), storeErrors("cancel"))

  const retry = (runId: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const [row] = yield* context.run(dialect.retry, { runId, now })
      if (row === undefined) return yield* context.explainMiss(runId, "retry")
      return row
    }).pipe(context.transaction, Effect.flatMap(decodeRun), storeErrors("retry"))

  const deleteRun = (runId: string) =>
    Effect.gen(function* () {
      const [row] = yield* context.run(dialect.deleteRun, { runId })
      if (row === undefined) return yield* context.explainMiss(runId, "delete")
      yield* deleteDependents([runId])
      // A deleted row's labels are reported as they were; unreadable ones as none (the row is gone either way).
      const labels = Option.getOrElse(decodeLabels(row["labels"]), () => ({}))
      return { jobName: String(row["job_name"]), labels }
    }).pipe(context.transaction, storeErrors("deleteRun"))

  const purge = (options: { readonly olderThan: number; readonly limit?: number | undefined }) =>
    Effect.gen(function* () {
      const deleted = yield* context.run(dialect.purge, {
        olderThan: options.olderThan,
        limit: options.limit ?? 1_000_000_000
      })
      if (deleted.length > 0) yield* deleteDependents(deleted.map((row) => String(row["id"])))
      return deleted.length
    }).pipe(context.transaction, storeErrors("purge"))

  /** Leased runs back to pending: those whose lease expired by `expiredBy`, or all of them. */
  const release = (expiredBy: (now: number) => number) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const released = yield* context.run(dialect.releaseExpired, { now, expiredBy: expiredBy(now) })
      return released.length
    }).pipe(storeErrors("releaseExpired"))

  const releaseExpired = release((now) => now)
  const releaseAll = release(() => Number.MAX_SAFE_INTEGER)

  return { operations: { cancel, retry, deleteRun, purge, releaseExpired }, releaseAll }
}
