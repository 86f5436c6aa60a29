// The PostgreSQL server the tests and the benchmark use (DATABASE_URL), how to
// ask whether it answers, and how to run one administrative statement on it.
// Each caller decides what a missing server means: the tests fail under CI,
// the benchmark skips its PostgreSQL section.
import pg from "pg"

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** Undefined when a server answers at `url`, else why not. */
export const probe = async (url: string = databaseUrl): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query("SELECT 1")
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Runs one statement on its own connection. */
export const admin = async (text: string, url: string = databaseUrl): Promise<void> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
