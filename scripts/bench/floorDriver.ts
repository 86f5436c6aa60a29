// The floor of a trigger: the least any job runner must do to queue a run in
// this project's schema, on the raw driver with nothing around it. Each call
// validates the input with the same zod schema both drivers use, makes a
// time-ordered id, stringifies the input and inserts one row into
// `durably_runs` (one autocommit transaction, so one fsync with SQLite FULL).
// No events, no wake-up, no fibers. The bench runs it between ours and
// upstream in each repetition, so `floor / upstream` is the best ratio any
// trigger into this schema could reach in that minute.
import Database from "better-sqlite3"
import { createDurably } from "durably"
import pg from "pg"
import * as z from "zod"
import type { Spec } from "./oursDriver.js"
// @ts-expect-error: plain JS shared with the other drivers
import { runFromArgv } from "./workloads.mjs"

interface Insert {
  readonly run: (id: string, input: string, now: number) => Promise<void> | void
  readonly close: () => Promise<void> | void
}

const columns = "(id, job_name, input, status, labels, created_at, updated_at)"

const sqliteInsert = (filename: string, synchronous: string): Insert => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous}`)
  const insert = db.prepare(`INSERT INTO durably_runs ${columns} VALUES (?, 'bench', ?, 'pending', '{}', ?, ?)`)
  return {
    run: (id, input, now) => void insert.run(id, input, now, now),
    close: () => void db.close()
  }
}

const pgInsert = async (url: string): Promise<Insert> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const text = `INSERT INTO durably_runs ${columns} VALUES ($1, 'bench', $2, 'pending', '{}', $3, $3)`
  return {
    run: async (id, input, now) => void (await client.query({ name: "floor-insert", text, values: [id, input, now] })),
    close: () => client.end()
  }
}

export const makeFloor = async (spec: Pick<Spec, "backend">) => {
  // The schema is this project's own: its migrations create it.
  const durably = createDurably({
    database: spec.backend.kind === "sqlite" ? spec.backend.filename : spec.backend.url,
    ...(spec.backend.kind === "sqlite" ? { synchronous: spec.backend.synchronous } : {})
  })
  await durably.migrate()
  await durably.dispose()
  const insert =
    spec.backend.kind === "sqlite" ? sqliteInsert(spec.backend.filename, spec.backend.synchronous) : await pgInsert(spec.backend.url)
  const input = z.object({ i: z.number(), k: z.number() })
  let sequence = 0
  return {
    trigger: async (raw: unknown) => {
      const parsed = input.parse(raw)
      const now = Date.now()
      const id = `${now.toString(36).padStart(9, "0")}${(sequence++).toString(36).padStart(6, "0")}`
      await insert.run(id, JSON.stringify(parsed), now)
      return { id, status: "pending", input: parsed }
    },
    close: () => insert.close()
  }
}

// Run as a child process (bench.ts): argv[2] is the JSON spec.
await runFromArgv(makeFloor)
