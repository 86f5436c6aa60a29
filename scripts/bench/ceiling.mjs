// The physical ceiling: single-row insert transactions per second through the
// raw driver (better-sqlite3 autocommit; pg autocommit), no job runner at all.
import Database from "better-sqlite3"
import pg from "pg"
import { performance } from "node:perf_hooks"

const spec = JSON.parse(process.argv[2])
let perSec
if (spec.backend.kind === "sqlite") {
  const db = new Database(spec.backend.filename)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${spec.backend.synchronous}`)
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
  const insert = db.prepare("INSERT INTO t (v) VALUES (?)")
  const t0 = performance.now()
  for (let i = 0; i < spec.n; i++) insert.run(`v${i}`)
  perSec = (spec.n / (performance.now() - t0)) * 1000
  db.close()
} else {
  const client = new pg.Client({ connectionString: spec.backend.url })
  await client.connect()
  await client.query("CREATE TABLE t (id SERIAL PRIMARY KEY, v TEXT)")
  const n = Math.min(spec.n, 5000)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await client.query("INSERT INTO t (v) VALUES ($1)", [`v${i}`])
  perSec = (n / (performance.now() - t0)) * 1000
  await client.end()
}
process.stdout.write(`${JSON.stringify({ perSec })}\n`)
