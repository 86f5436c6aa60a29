// Node's side of `createDurably({ database })`: a file path or `":memory:"`
// opens SQLite, a `postgres://` URL PostgreSQL, both through `@durably/node`.
import { NodeStore } from "@durably/node"
import { databaseResolver } from "./database.js"

export const isPostgresUrl = (database: string): boolean => /^postgres(ql)?:\/\//i.test(database)

export const nodeDatabase = databaseResolver((database, options) =>
  isPostgresUrl(database)
    ? NodeStore.pgClient({ url: database })
    : NodeStore.sqliteClient({ filename: database, synchronous: options.synchronous })
)
