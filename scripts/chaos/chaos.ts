// `pnpm chaos`: worker processes SIGKILLed at random while they execute runs,
// on PostgreSQL and on one SQLite file, one database after the other; prints
// what the journals and the databases say and exits non-zero unless every
// figure is 0. Flags (or the CHAOS_* environment variables) size the run:
//
//   pnpm chaos [--runs 2000] [--steps 5] [--pg-workers 4] [--sqlite-workers 3]
//              [--kill-every-ms 300] [--step-ms 20] [--lease-ms 2000]
//              [--renew-ms 500] [--polling-ms 50] [--concurrency 4]
//              [--deadline-s 900] [--db both|postgres|sqlite] [--keep]
//              [--pg-pause-every-ms 2000] [--sqlite-pause-every-ms 0]
//              [--pause-ms <lease + 1000>]
//
// Besides the kills, a random PostgreSQL worker is SIGSTOPped every ~2 s for
// longer than its leases, so it wakes up and writes with leases other workers
// have taken over: the fencing of stale writes meets real stale writers. Not
// on SQLite by default: a process stopped inside a write transaction holds the
// file's one write lock, every other worker then loses its leases as well, and
// the checks would count those re-runs against the engine.
import { parseArgs } from "node:util"
import { bundleWorker } from "./bundle.js"
import { formatReport } from "./report.js"
import type { PhaseResult } from "./scenario.js"
import { runPhase } from "./scenario.js"

const numbers = {
  runs: 2000,
  steps: 5,
  "pg-workers": 4,
  "sqlite-workers": 3,
  "kill-every-ms": 300,
  "step-ms": 20,
  "lease-ms": 2000,
  "renew-ms": 500,
  "polling-ms": 50,
  concurrency: 4,
  "deadline-s": 900,
  "pg-pause-every-ms": 2000,
  "sqlite-pause-every-ms": 0,
  /** 0: the lease and one more second. */
  "pause-ms": 0
} as const
type NumberFlag = keyof typeof numbers

const { values } = parseArgs({
  options: {
    ...Object.fromEntries(Object.keys(numbers).map((name) => [name, { type: "string" as const }])),
    db: { type: "string" },
    keep: { type: "boolean" }
  },
  strict: true
})

const envName = (flag: string) => `CHAOS_${flag.toUpperCase().replaceAll("-", "_")}`

const flag = (name: NumberFlag): number => {
  const text = (values as Record<string, string | boolean | undefined>)[name] ?? process.env[envName(name)]
  if (text === undefined) return numbers[name]
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} (or ${envName(name)}) must be a number >= 0, got ${String(text)}`)
  return value
}

const db = values.db ?? process.env.CHAOS_DB ?? "both"
if (db !== "both" && db !== "postgres" && db !== "sqlite") throw new Error(`--db must be both, postgres or sqlite, got ${db}`)

const bundle = await bundleWorker()
const results: Array<PhaseResult> = []
try {
  for (const dialect of ["postgres", "sqlite"] as const) {
    if (db !== "both" && db !== dialect) continue
    results.push(
      await runPhase({
        dialect,
        runs: flag("runs"),
        steps: flag("steps"),
        workers: flag(dialect === "postgres" ? "pg-workers" : "sqlite-workers"),
        killEveryMs: flag("kill-every-ms"),
        stepMs: flag("step-ms"),
        leaseMs: flag("lease-ms"),
        leaseRenewIntervalMs: flag("renew-ms"),
        pollingIntervalMs: flag("polling-ms"),
        maxConcurrentRuns: flag("concurrency"),
        deadlineMs: flag("deadline-s") * 1000,
        pauseEveryMs: flag(dialect === "postgres" ? "pg-pause-every-ms" : "sqlite-pause-every-ms"),
        pauseMs: flag("pause-ms") === 0 ? undefined : flag("pause-ms"),
        workerScript: bundle.file,
        keep: values.keep === true || process.env.CHAOS_KEEP === "1",
        log: (text) => console.log(text)
      })
    )
  }
} finally {
  bundle.remove()
}
console.log(`\n${formatReport(results)}`)
process.exit(results.every((result) => result.ok) ? 0 : 1)
