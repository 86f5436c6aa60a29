// One chaos phase on one database: trigger the runs, start the workers, SIGKILL
// a random one every ~`killEveryMs` (a fresh one takes its place; fleet.ts says
// why never the last one up) until every run has finished or the deadline
// passes, stop the workers, and judge what the journals and the database say
// (analyze.ts).
import { createDurably, defineJob } from "durably"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Analysis } from "./analyze.js"
import { analyze } from "./analyze.js"
import type { Backend, Dialect } from "./backend.js"
import { postgresBackend, sqliteBackend } from "./backend.js"
import type { Crash } from "./fleet.js"
import { makeFleet } from "./fleet.js"
import { chaosShape } from "./job.js"
import { now, readJournals } from "./journal.js"

export interface PhaseOptions {
  readonly dialect: Dialect
  readonly runs: number
  readonly steps: number
  readonly workers: number
  /** Mean time between kills; each wait is drawn uniformly from half to one and a half times it. */
  readonly killEveryMs: number
  /**
   * Mean time between pauses (0: none): a random worker is SIGSTOPped for
   * `pauseMs`, so it wakes up with leases others have taken over.
   */
  readonly pauseEveryMs?: number | undefined
  /** How long a pause lasts (default: the lease and one more second). */
  readonly pauseMs?: number | undefined
  /** Each step body waits a random time up to this. */
  readonly stepMs: number
  readonly leaseMs: number
  readonly leaseRenewIntervalMs: number
  readonly pollingIntervalMs: number
  readonly maxConcurrentRuns: number
  /** Give up (the unfinished runs count as lost) after this long. */
  readonly deadlineMs: number
  /** The bundled worker (bundle.ts). */
  readonly workerScript: string
  /** Keep the journals and the database afterwards (they are kept anyway when the phase fails). */
  readonly keep?: boolean | undefined
  readonly log?: ((text: string) => void) | undefined
}

export interface PhaseResult {
  readonly options: PhaseOptions
  readonly analysis: Analysis
  readonly kills: number
  /** Kills due while fewer than two workers were up (skipped). */
  readonly skippedKills: number
  readonly pauses: number
  readonly crashes: ReadonlyArray<Crash>
  readonly workersStarted: number
  /** Mean time from a worker's fork until it polled. */
  readonly meanStartupMs: number
  /** From the first worker's start until every run had finished (or the deadline). */
  readonly durationMs: number
  readonly completed: number
  readonly timedOut: boolean
  /** The journals' directory (removed unless kept). */
  readonly dir: string
  readonly ok: boolean
}

/** The coordinator's view of the job: it triggers runs and reads them, and never executes one. */
const chaos = defineJob({
  ...chaosShape,
  run: async () => {
    throw new Error("the coordinator never executes runs")
  }
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const triggerBatch = 500

const trigger = async (backend: Backend, options: PhaseOptions) => {
  const durably = createDurably({ database: backend.database, jobs: { chaos } })
  try {
    await durably.migrate()
    const triggered: Array<{ id: string; seed: number }> = []
    for (let from = 0; from < options.runs; from += triggerBatch) {
      const seeds = Array.from({ length: Math.min(triggerBatch, options.runs - from) }, (_, index) => from + index)
      const runs = await durably.jobs.chaos.batchTrigger(
        seeds.map((seed) => ({ input: { seed, steps: options.steps, stepMs: options.stepMs } }))
      )
      runs.forEach((run, index) => triggered.push({ id: run.id, seed: seeds[index]! }))
    }
    return triggered
  } finally {
    await durably.dispose()
  }
}

export const runPhase = async (options: PhaseOptions): Promise<PhaseResult> => {
  const log = options.log ?? (() => undefined)
  const label = options.dialect
  const dir = mkdtempSync(join(tmpdir(), `durably-chaos-${label}-`))
  const backend = options.dialect === "postgres" ? await postgresBackend() : sqliteBackend(dir)
  let ok = false
  let judged = false
  try {
    const triggered = await trigger(backend, options)
    log(`[${label}] ${triggered.length} runs x ${options.steps} steps triggered; ${options.workers} workers, a kill every ~${options.killEveryMs} ms`)

    const fleet = makeFleet({
      size: options.workers,
      script: options.workerScript,
      prefix: label === "postgres" ? "pg" : "sq",
      config: {
        database: backend.database,
        journalDir: dir,
        leaseMs: options.leaseMs,
        leaseRenewIntervalMs: options.leaseRenewIntervalMs,
        pollingIntervalMs: options.pollingIntervalMs,
        maxConcurrentRuns: options.maxConcurrentRuns
      }
    })
    const startedAt = now()
    const deadline = startedAt + options.deadlineMs
    const nextWait = () => options.killEveryMs * (0.5 + Math.random())
    let nextKill = startedAt + nextWait()
    const pauseEveryMs = options.pauseEveryMs ?? 0
    const pauseMs = options.pauseMs ?? options.leaseMs + 1000
    let nextPause = pauseEveryMs > 0 ? startedAt + pauseEveryMs * (0.5 + Math.random()) : Number.POSITIVE_INFINITY
    let nextPoll = startedAt
    let nextLog = startedAt + 5_000
    let unfinished = triggered.length
    let timedOut = false
    let durationMs = 0
    let skippedKills = 0
    let kills = 0
    fleet.start()
    try {
      while (unfinished > 0) {
        const at = now()
        if (at > deadline) {
          timedOut = true
          break
        }
        // A kill (or pause) due while fewer than two workers are up is skipped, not postponed.
        if (at >= nextKill) {
          if (fleet.killRandom() === undefined) skippedKills++
          nextKill = at + nextWait()
        }
        if (at >= nextPause) {
          fleet.pauseRandom(pauseMs)
          nextPause = at + pauseEveryMs * (0.5 + Math.random())
        }
        if (at >= nextPoll) {
          unfinished = await backend.unfinished()
          nextPoll = now() + 200
        }
        if (at >= nextLog) {
          log(`[${label}] ${triggered.length - unfinished}/${triggered.length} finished, ${fleet.kills().length} kills, ${fleet.pauses().length} pauses, ${fleet.ready()} workers up, ${((at - startedAt) / 1000).toFixed(0)} s`)
          nextLog = at + 5_000
        }
        await sleep(10)
      }
    } finally {
      // Stopped however the loop ended, so no worker outlives the phase.
      durationMs = now() - startedAt
      kills = fleet.kills().length
      await fleet.stop(15_000)
    }
    const stored = await backend.read()
    const journals = readJournals(dir)
    const analysis = analyze({
      triggered,
      steps: options.steps,
      stored,
      entries: journals.entries,
      malformed: journals.malformed,
      killed: new Set(fleet.kills().map((kill) => kill.proc)),
      pauses: fleet.pauses(),
      leaseMs: options.leaseMs
    })
    const crashes = fleet.crashes()
    judged = true
    ok =
      !timedOut &&
      crashes.length === 0 &&
      analysis.integrity.length === 0 &&
      Object.values(analysis.figures).every((figure) => figure === 0)
    return {
      options,
      analysis,
      kills,
      skippedKills,
      pauses: fleet.pauses().length,
      crashes,
      workersStarted: fleet.spawned(),
      meanStartupMs: fleet.meanStartupMs(),
      durationMs,
      completed: stored.runs.filter((run) => run.status === "completed").length,
      timedOut,
      dir,
      ok
    }
  } finally {
    const keep = options.keep === true || !ok
    await backend.dispose(keep)
    // A result names the directory in its report; a phase that threw says it here.
    if (keep && !judged) log(`[${label}] journals${options.dialect === "sqlite" ? " and database" : ""} kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
