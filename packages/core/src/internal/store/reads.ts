// Reading runs, steps and logs; every row is decoded, and one that cannot be
// is a `CorruptRowError` naming its run.
import { Effect } from "effect"
import type { CorruptRowError } from "../../DurablyError.js"
import { NotFoundError } from "../../DurablyError.js"
import type { Run, RunStatus } from "../../Run.js"
import type { RunFilter, Store } from "../../Store.js"
import { decodeLog, decodeRun, decodeStep } from "../rows.js"
import { storeErrors } from "../transaction.js"
import type { StoreContext } from "./context.js"

type Operations = Pick<Store["Type"], "getRun" | "getRuns" | "getSteps" | "getLogs">

const asArray = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> =>
  value === undefined ? [] : Array.isArray(value) ? (value as ReadonlyArray<A>) : [value as A]

export const make = (context: StoreContext): Operations => {
  const { dialect } = context

  const getRun = (runId: string) =>
    context.run(dialect.runById, { runId }).pipe(
      Effect.flatMap(([row]): Effect.Effect<Run, NotFoundError | CorruptRowError> =>
        row === undefined ? Effect.fail(new NotFoundError({ entity: "run", id: runId })) : decodeRun(row)
      ),
      storeErrors("getRun")
    )

  const getRuns = (filter: RunFilter = {}) =>
    context
      .runBound(
        dialect.getRuns({
          statuses: asArray<RunStatus>(filter.status),
          jobNames: asArray(filter.jobName),
          labels: Object.entries(filter.labels ?? {}),
          limit: filter.limit ?? 1_000_000_000,
          offset: filter.offset ?? 0
        })
      )
      .pipe(Effect.flatMap(Effect.forEach(decodeRun)), storeErrors("getRuns"))

  const getSteps = (runId: string) =>
    context.run(dialect.stepsOf, { runId }).pipe(Effect.flatMap(Effect.forEach(decodeStep)), storeErrors("getSteps"))

  const getLogs = (runId: string) =>
    context.run(dialect.logsOf, { runId }).pipe(Effect.flatMap(Effect.forEach(decodeLog)), storeErrors("getLogs"))

  return { getRun, getRuns, getSteps, getLogs }
}
