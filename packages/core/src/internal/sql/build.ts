// The statements of a dialect whose shape depends on the call (how many rows,
// which filters), each built by one function of `shared.ts`.
import type { Dialect } from "./dialect.js"
import * as Shared from "./shared.js"
import type { Placeholders, Statement } from "./statement.js"
import { bound, compile } from "./statement.js"

/** `make(count)` compiled once per `count`: these run on the hot path, some as prepared statements. */
const bySize = (placeholders: Placeholders, name: string, make: (count: number) => string) => {
  const compiled = new Map<number, Statement>()
  return (count: number): Statement => {
    const known = compiled.get(count)
    if (known !== undefined) return known
    const statement = compile(placeholders, `${name}_${count}`, make(count))
    compiled.set(count, statement)
    return statement
  }
}

/** The built statements of `Dialect` for `placeholders`. */
export const builders = (
  placeholders: Placeholders
): Pick<Dialect, "insertRuns" | "insertLabels" | "deleteDependents" | "getRuns"> => {
  const insertRuns = bySize(placeholders, "insertRuns", Shared.insertRuns)
  const insertLabels = bySize(placeholders, "insertLabels", Shared.insertLabels)
  return {
    insertRuns: (runs, now) => {
      const [only] = runs
      const values = runs.length === 1 && only !== undefined ? Shared.insertRunValues(only, now) : Shared.insertRunsValues(runs, now)
      return bound(insertRuns(runs.length), values)
    },
    insertLabels: (runId, entries) => bound(insertLabels(entries.length), Shared.insertLabelsValues(runId, entries)),
    deleteDependents: (runIds) => {
      const values = Object.fromEntries(runIds.map((id, i) => [`runId${i}`, id]))
      return Shared.dependentTables.map((table) =>
        bound(compile(placeholders, undefined, Shared.deleteDependents(table, runIds.length)), values)
      )
    },
    getRuns: (query) => {
      const { named, values } = Shared.getRuns(query)
      return bound(compile(placeholders, undefined, named), values)
    }
  }
}
