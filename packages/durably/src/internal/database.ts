// `createDurably({ database })` to the `SqlClient` layer it names.
import { NodeStore } from "@durably/node"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"

/** A file path, `":memory:"`, a `postgres://` URL, or a layer providing `SqlClient`. */
export type Database = string | Layer.Layer<SqlClient.SqlClient, unknown>

export const isPostgresUrl = (database: string): boolean => /^postgres(ql)?:\/\//i.test(database)

export const clientLayer = (
  database: Database,
  options: { readonly synchronous?: "NORMAL" | "FULL" | undefined }
): Layer.Layer<SqlClient.SqlClient, unknown> => {
  if (typeof database !== "string") return database
  if (isPostgresUrl(database)) return NodeStore.pgClient({ url: database })
  return NodeStore.sqliteClient({ filename: database, synchronous: options.synchronous })
}

export const isDatabase = (database: unknown): database is Database =>
  (typeof database === "string" && database.length > 0) || Layer.isLayer(database)
