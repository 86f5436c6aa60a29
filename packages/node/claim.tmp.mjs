import Database from "better-sqlite3"
const db = new Database(process.argv[2]); db.pragma("journal_mode = WAL"); db.pragma("synchronous = NORMAL")
const keyBlocks = `SELECT 1 FROM durably_runs o WHERE o.concurrency_key = r.concurrency_key AND o.status IN ('pending', 'leased') AND o.id <> r.id AND (o.id < r.id OR (o.status = 'leased' AND o.lease_expires_at > @now))`
const claim = db.prepare(`UPDATE durably_runs SET status = 'leased', lease_owner = @w, lease_expires_at = @e, lease_ms = @l, lease_generation = lease_generation + 1, attempt = attempt + 1, started_at = COALESCE(started_at, @now), updated_at = @now
 WHERE id = (SELECT r.id FROM durably_runs r INDEXED BY durably_runs_claimable WHERE r.status IN ('pending', 'leased') AND (r.status = 'pending' OR r.lease_expires_at <= @now) AND (r.concurrency_key IS NULL OR NOT EXISTS (${keyBlocks})) ORDER BY r.id LIMIT 1) RETURNING *`)
const fence = `id = @id AND status = 'leased' AND lease_generation = @g`
const step = db.prepare(`INSERT INTO durably_steps (run_id, name, "index", status, output, error, started_at, completed_at) SELECT id, @name, @idx, @st, @out, @err, @sa, @now FROM durably_runs WHERE ${fence}`)
const finish = db.prepare(`UPDATE durably_runs SET status = @st, output = @out, error = @err, completed_at = @now, updated_at = @now, lease_owner = NULL, lease_expires_at = NULL WHERE ${fence} AND lease_expires_at > @now`)
const del = db.prepare(`DELETE FROM durably_steps WHERE run_id = ? AND status = 'completed'`)
const begin = db.prepare("BEGIN IMMEDIATE"), commit = db.prepare("COMMIT")
const K = Number(process.argv[3] ?? 1)
const t = { claim: 0, step: 0, finish: 0 }
let n = 0
const T0 = performance.now()
while (true) {
  const now = Date.now()
  let a = performance.now()
  const rows = claim.all({ w: "w", e: now + 30000, l: 30000, now })
  t.claim += performance.now() - a
  if (rows.length === 0) break
  const r = rows[0]; n++
  a = performance.now()
  for (let s = 0; s < K; s++) step.run({ id: r.id, g: r.lease_generation, name: `s${s}`, idx: s, st: "completed", out: String(s), err: null, sa: now, now: Date.now() })
  t.step += performance.now() - a
  a = performance.now()
  begin.run(); finish.run({ id: r.id, g: r.lease_generation, st: "completed", out: null, err: null, now: Date.now() }); del.run(r.id); commit.run()
  t.finish += performance.now() - a
}
const total = performance.now() - T0
console.log(JSON.stringify({ n, usPerRun: (total / n * 1000).toFixed(1), claimUs: (t.claim / n * 1000).toFixed(1), stepUs: (t.step / n / K * 1000).toFixed(1), finishUs: (t.finish / n * 1000).toFixed(1) }))
