// `createDurably({ database })` to the storage it stands for: the store on the
// `SqlClient` layer it names, or the storage it is (a browser database). This
// module runs anywhere; opening a file path or a URL is Node's, injected by the
// Node entry (`../node.ts`) so the default entry never reaches `@durably/node`.
import { SqlStore } from "@durably/core"
import type { Storage } from "@durably/core/Internal"
import { isStorage, ofStore } from "@durably/core/Internal"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import { ValidationError } from "../errors.js"

/**
 * A file path, `":memory:"`, a `postgres://` URL (on Node), a layer providing
 * `SqlClient`, or a storage such as `@durably/browser`'s `DurablyBrowser.database()`.
 */
export type Database = string | Layer.Layer<SqlClient.SqlClient, unknown> | Storage

export interface DatabaseOptions {
  readonly synchronous?: "NORMAL" | "FULL" | undefined
}

/** The storage `database` stands for; throws `ValidationError` for one this entry cannot open. */
export type DatabaseResolver = (database: unknown, options: DatabaseOptions) => Storage

/** The migrated store on a `SqlClient` layer. */
const onClient = (client: Layer.Layer<SqlClient.SqlClient, unknown>): Storage =>
  ofStore(SqlStore.layerMigrated.pipe(Layer.provideMerge(client)))

const invalid = (message: string) => new ValidationError({ subject: "options", issues: [{ path: ["database"], message }] })

/**
 * A resolver that takes a Layer as given and hands strings to `open`; without
 * `open` (outside Node) a string is refused with a message that says why.
 */
export const databaseResolver =
  (open?: (database: string, options: DatabaseOptions) => Layer.Layer<SqlClient.SqlClient, unknown>): DatabaseResolver =>
  (database, options) => {
    if (isStorage(database)) return database
    if (Layer.isLayer(database)) return onClient(database as Layer.Layer<SqlClient.SqlClient, unknown>)
    if (open === undefined) {
      throw invalid(
        typeof database === "string"
          ? "file paths and URLs are opened only on Node (the \"node\" export condition of durably); in a browser pass DurablyBrowser.database() from @durably/browser, elsewhere a Layer providing SqlClient"
          : "must be DurablyBrowser.database() from @durably/browser or a Layer providing SqlClient"
      )
    }
    if (typeof database !== "string" || database.length === 0) {
      throw invalid("must be a file path, ':memory:', a postgres:// URL or a Layer")
    }
    return onClient(open(database, options))
  }
