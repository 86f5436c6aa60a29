// `createDurably({ database })` to the `SqlClient` layer it names. This module
// runs anywhere; opening a file path or a URL is Node's, injected by the
// Node entry (`../node.ts`) so the default entry never reaches `@durably/node`.
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import { ValidationError } from "../errors.js"

/** A file path, `":memory:"`, a `postgres://` URL (on Node), or a layer providing `SqlClient`. */
export type Database = string | Layer.Layer<SqlClient.SqlClient, unknown>

export interface DatabaseOptions {
  readonly synchronous?: "NORMAL" | "FULL" | undefined
}

/** The client layer for `database`; throws `ValidationError` for one this entry cannot open. */
export type DatabaseResolver = (
  database: unknown,
  options: DatabaseOptions
) => Layer.Layer<SqlClient.SqlClient, unknown>

const invalid = (message: string) => new ValidationError({ subject: "options", issues: [{ path: ["database"], message }] })

/**
 * A resolver that takes a Layer as given and hands strings to `open`; without
 * `open` (outside Node) a string is refused with a message that says why.
 */
export const databaseResolver =
  (open?: (database: string, options: DatabaseOptions) => Layer.Layer<SqlClient.SqlClient, unknown>): DatabaseResolver =>
  (database, options) => {
    if (Layer.isLayer(database)) return database as Layer.Layer<SqlClient.SqlClient, unknown>
    if (open === undefined) {
      throw invalid(
        typeof database === "string"
          ? "file paths and URLs are opened only on Node (the \"node\" export condition of durably); here pass a Layer providing SqlClient"
          : "must be a Layer providing SqlClient"
      )
    }
    if (typeof database !== "string" || database.length === 0) {
      throw invalid("must be a file path, ':memory:', a postgres:// URL or a Layer")
    }
    return open(database, options)
  }
