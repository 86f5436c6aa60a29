// The chaos run, small: 200 runs of 5 steps on one SQLite file shared by 3
// worker processes, and on PostgreSQL with 4, a random worker SIGKILLed every
// ~300 ms and replaced until every run has finished. What the workers did is
// journaled outside the database (scripts/chaos/journal.ts); the run passes
// when no run is lost or completed twice, no result came from a stale lease,
// no step was stored twice and no step body ran again except the one in
// flight at a kill. `pnpm chaos` is the full-size version.
//
// On PostgreSQL a random worker is also SIGSTOPped every ~2 s for longer than
// its lease: it wakes up holding leases others have taken over and tries to
// write with them, so the stale-lease check meets real stale writers. (Not on
// SQLite: a process stopped inside a write transaction holds the database's
// one write lock, and every other worker then loses its leases too, which the
// check would count against the engine.)
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Figures } from "../scripts/chaos/analyze.js"
import type { Dialect } from "../scripts/chaos/backend.js"
import type { Bundle } from "../scripts/chaos/bundle.js"
import { bundleWorker } from "../scripts/chaos/bundle.js"
import { formatReport } from "../scripts/chaos/report.js"
import { runPhase } from "../scripts/chaos/scenario.js"
import { pgAvailable } from "./support/postgres.js"

const zero: Figures = { lostRuns: 0, runsCompletedTwice: 0, staleLeaseWrites: 0, stepsPersistedTwice: 0, unexcusedStepReruns: 0 }

let bundle: Bundle | undefined
beforeAll(async () => {
  bundle = await bundleWorker()
})
afterAll(() => bundle?.remove())

const chaos = async (dialect: Dialect, workers: number, pauseEveryMs: number) => {
  const result = await runPhase({
    dialect,
    runs: 200,
    steps: 5,
    workers,
    killEveryMs: 300,
    // Bodies long enough, and few enough runs at once, that the run lasts some seconds and kills land inside bodies.
    stepMs: 40,
    leaseMs: 2000,
    leaseRenewIntervalMs: 500,
    pollingIntervalMs: 50,
    maxConcurrentRuns: 2,
    pauseEveryMs,
    deadlineMs: 100_000,
    workerScript: bundle!.file
  })
  const report = formatReport([result])
  console.log(report)
  expect(result.analysis.figures, report).toEqual(zero)
  expect(result.analysis.integrity, report).toEqual([])
  expect(result.crashes, report).toEqual([])
  expect(result.completed, report).toBe(200)
  // The kills happened, with runs in flight, and bodies in flight at a kill did run again.
  expect(result.kills, report).toBeGreaterThanOrEqual(3)
  expect(result.analysis.killsInBody, report).toBeGreaterThanOrEqual(1)
  expect(result.analysis.inFlightReruns, report).toBeGreaterThanOrEqual(1)
  if (pauseEveryMs > 0) expect(result.pauses, report).toBeGreaterThanOrEqual(1)
}

const scenario =
  "200 runs x 5 steps with a worker SIGKILLed every ~300 ms: every run completes once, results come from live leases, each step is stored once and only bodies in flight at a kill run again"

describe("chaos on SQLite (3 worker processes, one file)", () => {
  it(scenario, () => chaos("sqlite", 3, 0), 150_000)
})

describe.skipIf(!pgAvailable)("chaos on PostgreSQL (4 worker processes)", () => {
  it(`${scenario}; workers also paused past their leases`, () => chaos("postgres", 4, 2000), 150_000)
})
