// What the store's two ways of running its hot statements (through an
// executor, `lease.ts`; on SQLite's connection directly, `sqliteDirect.ts`)
// share: the lease-loss check, how a claimed row becomes a run, and the two
// terminal writes over one `finish`.
import type { SqlError } from "@effect/sql/SqlError"
import type { Option } from "effect"
import { Effect } from "effect"
import type { CorruptRowError, StoreError } from "../../DurablyError.js"
import { LeaseLostError } from "../../DurablyError.js"
import type { Run, RunStatus } from "../../Run.js"
import type { Lease, Store, TerminalOptions } from "../../Store.js"
import { toJson } from "../rows.js"
import type { Row } from "../sql/statement.js"

const leaseLost = (lease: Lease): LeaseLostError =>
  new LeaseLostError({ runId: lease.runId, generation: lease.generation })

/** A fenced write's outcome from the rows it matched: none means the lease is lost. */
export const held = (lease: Lease, matched: number): Effect.Effect<void, LeaseLostError> =>
  matched > 0 ? Effect.void : Effect.fail(leaseLost(lease))

/** The claim's result from its row: none, the run, or (a row that cannot be decoded) that run failed at once. */
export type ClaimedRun = (row: Row | undefined) => Effect.Effect<Option.Option<Run>, CorruptRowError | SqlError>

/** A lease holder's terminal write (fenced, lease live), with the step cleanup `options` asks for. */
export type Finish = (
  operation: string,
  lease: Lease,
  status: RunStatus,
  fields: { readonly output: string | null; readonly error: string | null },
  options: TerminalOptions
) => Effect.Effect<void, StoreError | LeaseLostError>

export const terminalWrites = (finish: Finish): Pick<Store["Type"], "complete" | "fail"> => ({
  complete: (lease, output, options) =>
    finish("complete", lease, "completed", { output: toJson(output) ?? "null", error: null }, options),
  fail: (lease, error, options) => finish("fail", lease, "failed", { output: null, error }, options)
})
