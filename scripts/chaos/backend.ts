// The databases a chaos phase runs on: a PostgreSQL schema of its own on the
// server at DATABASE_URL (dropped afterwards), or a SQLite file in the phase's
// directory. Besides the address the workers get, each reads back what the
// phase left: the runs and every stored step row, straight from the tables.
import Database from "better-sqlite3"
import { join } from "node:path"
import pg from "pg"
import { admin, databaseUrl, probe } from "../postgres.js"

export type Dialect = "postgres" | "sqlite"

export interface StoredRun {
  readonly id: string
  readonly status: string
  readonly output: unknown
  readonly error: string | null
}

export interface StoredStep {
  readonly runId: string
  readonly name: string
  readonly status: string
  readonly output: unknown
}

export interface Stored {
  readonly runs: ReadonlyArray<StoredRun>
  readonly steps: ReadonlyArray<StoredStep>
}

export interface Backend {
  readonly dialect: Dialect
  /** What `createDurably({ database })` gets. */
  readonly database: string
  /** Runs not finished yet (pending or leased). */
  readonly unfinished: () => Promise<number>
  readonly read: () => Promise<Stored>
  /** Closes the reading connection and removes the database (a PostgreSQL schema; the SQLite file goes with its directory). */
  readonly dispose: (keep: boolean) => Promise<void>
}

const unfinishedSql = `SELECT COUNT(*) AS n FROM durably_runs WHERE status IN ('pending', 'leased')`
const runsSql = `SELECT id, status, output, error FROM durably_runs`
const stepsSql = `SELECT run_id, name, status, output FROM durably_steps`

interface RunRow {
  readonly id: string
  readonly status: string
  readonly output: unknown
  readonly error: string | null
}
interface StepRow {
  readonly run_id: string
  readonly name: string
  readonly status: string
  readonly output: unknown
}

/** A stored JSON column, as its value (kept as text when it is not JSON, so the checks name it). */
const json = (value: unknown): unknown => {
  if (typeof value !== "string") return value
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

const stored = (runs: ReadonlyArray<RunRow>, steps: ReadonlyArray<StepRow>): Stored => ({
  runs: runs.map((row) => ({ id: row.id, status: row.status, output: json(row.output), error: row.error })),
  steps: steps.map((row) => ({ runId: row.run_id, name: row.name, status: row.status, output: json(row.output) }))
})

export const postgresBackend = async (): Promise<Backend> => {
  const unreachable = await probe()
  if (unreachable !== undefined) throw new Error(`PostgreSQL does not answer at ${databaseUrl}: ${unreachable}`)
  const schema = `chaos_${process.pid}_${Date.now().toString(36)}`
  await admin(`CREATE SCHEMA "${schema}"`)
  const url = new URL(databaseUrl)
  url.searchParams.set("options", `-c search_path=${schema}`)
  let client: pg.Client | undefined
  const connection = async () => {
    if (client === undefined) {
      client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      await client.query(`SET search_path TO "${schema}"`)
    }
    return client
  }
  return {
    dialect: "postgres",
    database: url.toString(),
    unfinished: async () => Number((await (await connection()).query<{ n: string }>(unfinishedSql)).rows[0]?.n),
    read: async () => {
      const db = await connection()
      return stored((await db.query<RunRow>(runsSql)).rows, (await db.query<StepRow>(stepsSql)).rows)
    },
    dispose: async (keep) => {
      await client?.end()
      if (keep) console.log(`[chaos] kept PostgreSQL schema ${schema}`)
      else await admin(`DROP SCHEMA "${schema}" CASCADE`)
    }
  }
}

export const sqliteBackend = (dir: string): Backend => {
  const filename = join(dir, "chaos.db")
  // Opened after the coordinator's instance has created and migrated the file.
  let db: Database.Database | undefined
  const connection = () => {
    db ??= new Database(filename, { timeout: 10_000 })
    return db
  }
  return {
    dialect: "sqlite",
    database: filename,
    unfinished: async () => Number((connection().prepare(unfinishedSql).get() as { n: number }).n),
    read: async () =>
      stored(connection().prepare(runsSql).all() as Array<RunRow>, connection().prepare(stepsSql).all() as Array<StepRow>),
    dispose: async () => {
      db?.close()
    }
  }
}
