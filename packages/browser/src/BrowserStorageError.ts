/**
 * Why the browser database could not be opened. Opening never hangs: every
 * failure becomes this error within `openTimeout`, and its message says what
 * to do.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * - `insecure-context`: the page is not a secure context (https or localhost)
 * - `no-opfs`: the browser offers no Origin Private File System, or refuses it here
 * - `pool-full`: the origin's OPFS file pool has no free file for this database
 * - `worker`: the database worker script or its wasm file could not be loaded
 * - `open`: SQLite could not open or migrate the database
 * - `timeout`: the worker did not answer within `openTimeout`
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal("insecure-context", "no-opfs", "pool-full", "worker", "open", "timeout")

/** @since 0.1.0 @category models */
export type Reason = typeof Reason.Type

/**
 * @since 0.1.0
 * @category errors
 */
export class BrowserStorageError extends Schema.TaggedError<BrowserStorageError>()("BrowserStorageError", {
  reason: Reason,
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}
