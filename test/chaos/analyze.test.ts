// The chaos checker on made-up histories: a clean history passes, and each
// kind of violation the chaos run looks for is counted under its figure. So a
// chaos run that reports 0 has run checks that can fail.
import { describe, expect, it } from "vitest"
import type { AnalysisInput, Figures } from "../../scripts/chaos/analyze.js"
import { analyze } from "../../scripts/chaos/analyze.js"
import type { StoredRun, StoredStep } from "../../scripts/chaos/backend.js"
import { nextValue, stepName, valueAfter } from "../../scripts/chaos/job.js"
import type { Entry } from "../../scripts/chaos/journal.js"

const run = "run-1"
const seed = 3
const steps = 2
const zero: Figures = { lostRuns: 0, runsCompletedTwice: 0, staleLeaseWrites: 0, stepsPersistedTwice: 0, unexcusedStepReruns: 0 }

/**
 * One execution's journal lines, from `t`: `stepsRun` bodies (after `replayed`
 * stored ones), then optionally the run's end. Process `pN` claims attempt N
 * unless told otherwise.
 */
const execution = (
  proc: string,
  t: number,
  options: {
    readonly replayed?: number
    readonly stepsRun?: number
    readonly ends?: boolean
    readonly open?: boolean
    readonly attempt?: number | null
  }
): Array<Entry> => {
  const exec = `${proc}.1`
  const pid = Number(proc.replace(/\D/g, ""))
  const attempt = options.attempt === undefined ? pid : options.attempt
  const entries: Array<Entry> = [{ t, proc, pid, run, k: "exec-start", exec, attempt }]
  let at = t
  const from = options.replayed ?? 0
  const to = from + (options.stepsRun ?? steps - from)
  for (let index = from; index < to; index++) {
    const step = stepName(index)
    const nonce = `${exec}.${index}`
    entries.push({ t: ++at, proc, pid, run, k: "step-start", exec, step, nonce })
    // The last body of an `open` execution never ends (its process died inside it).
    if (options.open === true && index === to - 1) return entries
    entries.push({ t: ++at, proc, pid, run, k: "step-end", exec, step, nonce })
  }
  if (options.ends === true) {
    entries.push({ t: ++at, proc, pid, run, k: "run-end", exec })
    entries.push({ t: ++at, proc, pid, run, k: "complete", exec })
  }
  return entries
}

/** The stored rows: step `index` produced by the execution named at that position. */
const storedBy = (producers: ReadonlyArray<string>, status = "completed"): { runs: Array<StoredRun>; steps: Array<StoredStep> } => {
  let value = seed
  const stored: Array<StoredStep> = producers.map((proc, index) => {
    value = nextValue(value, index)
    return { runId: run, name: stepName(index), status: "completed", output: { value, proc, exec: `${proc}.1`, nonce: `${proc}.1.${index}` } }
  })
  const last = producers.at(-1) ?? "p1"
  return {
    runs: [
      {
        id: run,
        status,
        error: null,
        output: status === "completed" ? { value: valueAfter(seed, steps), proc: last, exec: `${last}.1`, nonces: producers.map((proc, index) => `${proc}.1.${index}`) } : null
      }
    ],
    steps: stored
  }
}

const check = (
  entries: ReadonlyArray<Entry>,
  stored: AnalysisInput["stored"],
  killed: ReadonlyArray<string> = [],
  pauses: AnalysisInput["pauses"] = []
) =>
  analyze({
    triggered: [{ id: run, seed }],
    steps,
    stored,
    entries: [...entries].sort((a, b) => a.t - b.t),
    malformed: [],
    killed: new Set(killed),
    pauses,
    leaseMs: 2000
  })

describe("chaos checker", () => {
  it("passes a clean history, and one where a killed worker's in-flight step ran again", () => {
    const clean = check(execution("p1", 0, { ends: true }), storedBy(["p1", "p1"]))
    expect(clean.figures).toEqual(zero)
    expect(clean.integrity).toEqual([])

    // p1 stored step 0, died inside step 1; p2 claimed after the lease expired, replayed 0 and ran 1 again.
    const resumed = check(
      [...execution("p1", 0, { open: true }), ...execution("p2", 3000, { replayed: 1, ends: true })],
      storedBy(["p1", "p2"]),
      ["p1"]
    )
    expect(resumed.figures).toEqual(zero)
    expect(resumed.integrity).toEqual([])
    expect(resumed.inFlightReruns).toBe(1)
    expect(resumed.killsMidRun).toBe(1)
    expect(resumed.killsInBody).toBe(1)
  })

  it("counts a run not completed as lost", () => {
    const result = check(execution("p1", 0, { stepsRun: 1 }), { runs: [{ id: run, status: "leased", output: null, error: null }], steps: [] })
    expect(result.figures).toEqual({ ...zero, lostRuns: 1 })
  })

  it("counts a run whose completion was reported twice", () => {
    const entries = execution("p1", 0, { ends: true })
    const result = check([...entries, { t: 100, proc: "p2", pid: 2, run, k: "complete", exec: "p1.1" }], storedBy(["p1", "p1"]))
    expect(result.figures).toEqual({ ...zero, runsCompletedTwice: 1 })
  })

  it("counts a run executed again after it completed", () => {
    const result = check(
      [...execution("p1", 0, { ends: true }), ...execution("p2", 3000, { replayed: 2, ends: false })],
      storedBy(["p1", "p1"])
    )
    expect(result.figures).toEqual({ ...zero, runsCompletedTwice: 1 })
  })

  it("counts a step result written after another execution had claimed the run", () => {
    // p1's body of step 0 ended after p2 had started (so after p2's claim), yet its result is the stored one.
    const late = execution("p1", 0, { stepsRun: 1 }).map((entry) => (entry.k === "step-end" ? { ...entry, t: 3500 } : entry))
    const result = check([...late, ...execution("p2", 3000, { replayed: 1, ends: true })], storedBy(["p1", "p2"]))
    expect(result.figures).toEqual({ ...zero, staleLeaseWrites: 1 })
    expect(result.violations.staleLeaseWrites[0]).toContain("p2.1")
  })

  it("counts a stored step result that no journaled body produced", () => {
    const stored = storedBy(["p1", "p1"])
    const forged = { ...stored, steps: stored.steps.map((step, index) => (index === 0 ? { ...step, output: { ...(step.output as object), nonce: "p9.1.0" } } : step)) }
    const result = check(execution("p1", 0, { ends: true }), forged)
    expect(result.figures.staleLeaseWrites).toBe(1)
  })

  it("counts a run completed after another execution had claimed it", () => {
    const late = execution("p1", 0, { ends: true }).map((entry) => (entry.k === "run-end" ? { ...entry, t: 3500 } : entry))
    const result = check([...late, ...execution("p2", 3000, { replayed: 2 })], storedBy(["p1", "p1"]))
    expect(result.figures).toEqual({ ...zero, staleLeaseWrites: 1 })
  })

  it("counts a step with two completed rows", () => {
    const stored = storedBy(["p1", "p1"])
    const result = check(execution("p1", 0, { ends: true }), { ...stored, steps: [...stored.steps, stored.steps[0]!] })
    expect(result.figures).toEqual({ ...zero, stepsPersistedTwice: 1 })
  })

  it("counts step bodies run again other than the one in flight at a kill", () => {
    const resume = (killed: ReadonlyArray<string>, first: Array<Entry>, stored: ReadonlyArray<string>) =>
      check([...first, ...execution("p2", 3000, { ends: true })], storedBy(stored), killed)

    // Its process was not killed (a worker that lost its lease while alive).
    expect(resume([], execution("p1", 0, { stepsRun: 1, open: true }), ["p2", "p2"]).figures).toEqual({ ...zero, unexcusedStepReruns: 1 })
    // Killed, but step 0 had finished before step 1 started in that process: only step 1 was in flight.
    expect(resume(["p1"], execution("p1", 0, { open: true }), ["p2", "p2"]).figures).toEqual({ ...zero, unexcusedStepReruns: 1 })
    // Killed while its last body was in flight, but that body's result had been stored.
    const stored = resume(["p1"], execution("p1", 0, { stepsRun: 1 }), ["p1", "p2"])
    expect(stored.figures.unexcusedStepReruns).toBe(1)
    expect(stored.violations.unexcusedStepReruns[0]).toContain("its result had been stored")
  })

  it("excuses the body in flight at a pause, not a result the paused execution wrote on waking up", () => {
    // p1 is paused inside step 1 (t 100) past its lease; p2 takes the run over and runs step 1 again.
    const paused = [{ proc: "p1", at: 100, until: 3100 }]
    const asleep = execution("p1", 0, { open: true })
    const fenced = check([...asleep, ...execution("p2", 3000, { replayed: 1, ends: true })], storedBy(["p1", "p2"]), [], paused)
    expect(fenced.figures).toEqual(zero)
    expect(fenced.inFlightReruns).toBe(1)

    // On waking up (t 3500) p1 finishes its body, and its result is the one stored.
    const woke: Array<Entry> = [...asleep, { t: 3500, proc: "p1", pid: 1, run, k: "step-end", exec: "p1.1", step: stepName(1), nonce: "p1.1.1" }]
    const stale = check([...woke, ...execution("p2", 3000, { replayed: 1, ends: true })], storedBy(["p1", "p1"]), [], paused)
    expect(stale.figures.staleLeaseWrites).toBeGreaterThanOrEqual(1)
  })

  it("orders executions by claim: one that woke from a pause after a later claim may start one body, never store it", () => {
    // p1 claimed first (attempt 1) and was paused before its job started; p2 (attempt 2) completed the run;
    // p1 woke, started, and began step 0 before its write failed.
    const paused = [{ proc: "p1", at: 50, until: 4990 }]
    const woke = execution("p1", 5000, { stepsRun: 1, open: true })
    const completed = execution("p2", 3000, { ends: true })
    const result = check([...completed, ...woke], storedBy(["p2", "p2"]), [], paused)
    expect(result.figures).toEqual(zero)
    expect(result.wokenStaleBodies).toBe(1)
    // Without the pause, that body is a re-run nothing explains.
    expect(check([...completed, ...woke], storedBy(["p2", "p2"])).figures).toEqual({ ...zero, unexcusedStepReruns: 1 })
    // Without the attempts, p1 looks like an execution after the completion.
    const unknown = [...execution("p2", 3000, { ends: true, attempt: null }), ...execution("p1", 5000, { stepsRun: 1, open: true, attempt: null })]
    expect(check(unknown, storedBy(["p2", "p2"]), [], paused).figures.runsCompletedTwice).toBe(1)

    // p1 ran step 0, was paused before step 1, and woke before p2 (which claimed meanwhile) reached step 1.
    const early: Array<Entry> = [
      ...execution("p1", 0, { stepsRun: 1 }),
      { t: 3101, proc: "p1", pid: 1, run, k: "step-start", exec: "p1.1", step: stepName(1), nonce: "p1.1.1" }
    ]
    const raced = check([...early, ...execution("p2", 3000, { replayed: 1, ends: true }).map((entry) => (entry.k === "exec-start" ? entry : { ...entry, t: entry.t + 200 }))], storedBy(["p1", "p2"]), [], [{ proc: "p1", at: 100, until: 3100 }])
    expect(raced.figures).toEqual(zero)
    expect(raced.inFlightReruns).toBe(1)
  })

  it("reports wrong values and missing step rows as integrity errors", () => {
    const stored = storedBy(["p1", "p1"])
    const wrong = { ...stored, steps: [{ ...stored.steps[0]!, output: { ...(stored.steps[0]!.output as object), value: 1 } }, stored.steps[1]!] }
    expect(check(execution("p1", 0, { ends: true }), wrong).integrity.length).toBeGreaterThan(0)
    const missing = { ...stored, steps: [stored.steps[0]!] }
    expect(check(execution("p1", 0, { ends: true }), missing).integrity).toContainEqual(expect.stringContaining("without a stored result"))
  })
})
