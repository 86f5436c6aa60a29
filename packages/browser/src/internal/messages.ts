// What a page and its database worker say to each other.
import type { Reason } from "../BrowserStorageError.js"
import type { Call, Outcome } from "./protocol.js"

export interface OpenRequest {
  readonly type: "open"
  /** The database file in the pool. */
  readonly name: string
  /** The OPFS directory of the database's own file pool. */
  readonly directory: string
  /** `FULL`: each commit is flushed before it is answered. */
  readonly synchronous: "NORMAL" | "FULL"
}

export type ToWorker = OpenRequest | { readonly type: "calls"; readonly calls: ReadonlyArray<Call> }

export type FromWorker =
  | { readonly type: "ready"; readonly released: number }
  | { readonly type: "open-failed"; readonly reason: Reason; readonly detail: string }
  | { readonly type: "outcomes"; readonly outcomes: ReadonlyArray<Outcome> }
