// PostgreSQL for tests: a real server at DATABASE_URL. Each test gets a schema
// of its own (set through the connection URL, so every pooled connection uses
// it), dropped afterwards. Under CI a missing server fails; locally the PG
// tests are skipped with a printed reason.
import { Effect, Layer } from "effect"
import { admin, databaseUrl, probe } from "../../scripts/postgres.js"

export { admin, databaseUrl }

const unreachable = await probe()
if (unreachable !== undefined) {
  if (process.env.CI === "true") {
    throw new Error(`PostgreSQL is required under CI but ${databaseUrl} does not answer: ${unreachable}`)
  }
  console.warn(`[postgres] skipping PostgreSQL tests: ${databaseUrl} does not answer (${unreachable})`)
}

/** True when a server answers at DATABASE_URL. */
export const pgAvailable = unreachable === undefined

export const withSearchPath = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

export const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

let counter = 0
export const uniqueName = (prefix: string): string =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`

/** A schema of its own for the current scope, dropped when the scope closes; its name. */
export const freshSchemaName = (prefix = "t") =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const schema = uniqueName(prefix)
      await admin(`CREATE SCHEMA "${schema}"`)
      return schema
    }),
    (schema) => Effect.promise(() => admin(`DROP SCHEMA "${schema}" CASCADE`))
  )

/** Like `freshSchemaName`, as a connection URL whose every pooled connection uses that schema. */
export const freshSchemaUrl = (prefix = "t") =>
  Effect.map(freshSchemaName(prefix), (schema) => withSearchPath(databaseUrl, schema))

/** A layer built on a fresh schema's URL; the schema is dropped when the layer is released. */
export const freshSchema = <A, E, R>(build: (url: string) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(Effect.map(freshSchemaUrl(), build))

/** A fresh database (for tests that touch database-wide state), dropped on release. */
export const freshDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = uniqueName("db")
    await admin(`CREATE DATABASE "${name}"`)
    return withDatabase(databaseUrl, name)
  }),
  (url) => Effect.promise(() => admin(`DROP DATABASE "${new URL(url).pathname.slice(1)}" WITH (FORCE)`))
)
