/**
 * Durably for plain TypeScript: `defineJob` and `createDurably` over the
 * Effect engine of `@durably/core`.
 *
 * This is the entry for every runtime but Node (browsers, workers, Deno, Bun
 * without the "node" condition): it reaches no Node built-in and no native
 * driver, so `database` is `DurablyBrowser.database()` from `@durably/browser`
 * in a browser, or a Layer providing `SqlClient`. On Node the
 * "node" export condition selects `./node.ts`, which also opens file paths
 * and `postgres://` URLs.
 */
import type { Storage } from "@durably/core/Internal"
import type { SqlClient } from "@effect/sql"
import type { Layer } from "effect"
import type { Durably, DurablyOptions, JobDefinitions } from "./createDurably.js"
import { makeDurably } from "./createDurably.js"
import { databaseResolver } from "./internal/database.js"

export * from "./shared.js"

const layerOnly = databaseResolver()

/**
 * Creates a Durably instance over a browser database or a Layer providing `SqlClient` (a file path
 * or URL throws `ValidationError` here: only Node's entry opens those). Nothing
 * is opened until the first call that needs the database (usually `init()`).
 *
 * @example
 * const durably = createDurably({ database: DurablyBrowser.database({ name: "app" }), jobs: { syncUsers } })
 * await durably.init()
 * const run = await durably.jobs.syncUsers.trigger({ orgId: "o1" })
 */
export const createDurably = <Jobs extends JobDefinitions = Record<never, never>>(
  options: DurablyOptions<Jobs> & { readonly database: Layer.Layer<SqlClient.SqlClient, unknown> | Storage }
): Durably<Jobs> => makeDurably(options, layerOnly)
