// The verdict of a chaos phase, from the journals (what the processes did,
// recorded outside the database), the rows left in the database, and the
// processes the coordinator SIGKILLed or SIGSTOPped. Pure: the checks are tested on made-up
// journals in test/chaos/analyze.test.ts.
//
// An execution is one call of the job function in one process, under one
// claim (its attempt). Journal times come from the clock of one machine, so
// they order events across processes. A claim precedes the claimer's
// `exec-start`, and a worker writes a result only after journaling the body's
// end; so a stored result whose body ended after an execution under a later
// claim had started was written after the lease had passed on. Executions are
// ordered by attempt, not by start: a process stopped between its claim and
// its start starts after the claims that superseded it.
import type { Stored } from "./backend.js"
import { chaosShape, nextValue, StepOutput, stepName, valueAfter } from "./job.js"
import type { Execution, Of } from "./history.js"
import { claimedAfter, push, readHistory } from "./history.js"
import type { Entry } from "./journal.js"

export interface Figures {
  /** Runs not completed at the end. */
  readonly lostRuns: number
  /** Runs whose completion was reported more than once, or that ran again after completing. */
  readonly runsCompletedTwice: number
  /** Stored results (step or run output) written by an execution that no longer held the lease, or by none. */
  readonly staleLeaseWrites: number
  /** (run, step) pairs with more than one completed row. */
  readonly stepsPersistedTwice: number
  /** Step bodies started again, except after the start in flight when its process was SIGKILLed. */
  readonly unexcusedStepReruns: number
}

export type Figure = keyof Figures

export const figureLabels: Record<Figure, string> = {
  lostRuns: "lost runs (not completed)",
  runsCompletedTwice: "runs completed twice",
  staleLeaseWrites: "writes accepted from a stale lease",
  stepsPersistedTwice: "completed steps persisted twice",
  unexcusedStepReruns: "step bodies re-run outside a kill/pause"
}

export interface AnalysisInput {
  readonly triggered: ReadonlyArray<{ readonly id: string; readonly seed: number }>
  readonly steps: number
  readonly stored: Stored
  /** Every journal entry, ordered by time. */
  readonly entries: ReadonlyArray<Entry>
  readonly malformed: ReadonlyArray<string>
  /** The processes (fleet ids) the coordinator SIGKILLed. */
  readonly killed: ReadonlySet<string>
  /** When the coordinator SIGSTOPped a process (for longer than the lease) and SIGCONTed it, if it did. */
  readonly pauses?: ReadonlyArray<{ readonly proc: string; readonly at: number; readonly until: number | undefined }> | undefined
  /** The workers' lease: how soon after waking from a pause a process must have started the body it was about to run. */
  readonly leaseMs: number
}

export interface Analysis {
  readonly figures: Figures
  /** For each figure, one line per violation naming the run and the journal lines. */
  readonly violations: Record<Figure, ReadonlyArray<string>>
  /** Other inconsistencies (wrong values, missing rows, unreadable journal lines); each one fails the phase. */
  readonly integrity: ReadonlyArray<string>
  /** Executions stopped while their process lived (their signal aborted: lease lost after a pause, or shutdown). */
  readonly aborted: number
  /** Kills whose process had an execution in flight (not run to its end). */
  readonly killsMidRun: number
  /** Kills whose process was inside a step body. */
  readonly killsInBody: number
  /** Step bodies started again after their start in flight at a kill or pause (allowed). */
  readonly inFlightReruns: number
  /**
   * Step bodies started by an execution that woke from a pause after a later
   * claim of its run (allowed: it cannot know before its next write fails).
   */
  readonly wokenStaleBodies: number
  readonly executions: number
  readonly stepBodies: number
  readonly workerErrors: ReadonlyArray<string>
}

const line = (entry: Entry | undefined): string => (entry === undefined ? "(none)" : JSON.stringify(entry))

export const analyze = (input: AnalysisInput): Analysis => {
  const violations: Record<Figure, Array<string>> = {
    lostRuns: [],
    runsCompletedTwice: [],
    staleLeaseWrites: [],
    stepsPersistedTwice: [],
    unexcusedStepReruns: []
  }
  /** Runs behind the `runsCompletedTwice` lines (a run may have several). */
  const completedTwice = new Set<string>()
  const completedAgain = (run: string, text: string) => {
    completedTwice.add(run)
    violations.runsCompletedTwice.push(text)
  }
  const integrity: Array<string> = input.malformed.map((text) => `unreadable journal line: ${text}`)

  const { executions, byRun, stepStarts, endsByNonce, completes, stepBodies, workerErrors, problems } = readHistory(input.entries)
  integrity.push(...problems)

  const describe = (exec: string | undefined): string => {
    const execution = exec === undefined ? undefined : executions.get(exec)
    if (execution === undefined) return `execution ${exec ?? "?"} (not in any journal)`
    const paused = (input.pauses ?? []).filter((pause) => pause.proc === execution.proc).length
    const fate = `${input.killed.has(execution.proc) ? "SIGKILLed" : "not killed"}${paused > 0 ? `, paused ${paused}x` : ""}`
    const aborts = execution.aborts.map((abort) => `; aborted: ${abort.reason}`).join("")
    return `execution ${execution.exec} (pid ${execution.start.pid}, ${fate}, attempt ${execution.attempt ?? "?"}${aborts})`
  }
  /** Executions of the run under later claims. */
  const later = (execution: Execution): ReadonlyArray<Execution> =>
    (byRun.get(execution.run) ?? []).filter((other) => claimedAfter(other, execution))

  const storedRuns = new Map(input.stored.runs.map((run) => [run.id, run]))
  const storedSteps = new Map<string, Array<(typeof input.stored.steps)[number]>>()
  for (const step of input.stored.steps) push(storedSteps, step.runId, step)
  const triggered = new Set(input.triggered.map((run) => run.id))
  for (const run of byRun.keys()) if (!triggered.has(run)) integrity.push(`executed a run never triggered: ${run}`)

  let inFlightReruns = 0
  let wokenStaleBodies = 0

  /**
   * A process paused past its lease wakes up and starts the body it was about
   * to run; only the write of its result tells it the run was claimed again
   * meanwhile. Such a body: the last its execution started, started soon after
   * its process woke, in an execution superseded by a later claim, and its
   * result not the stored one.
   */
  const wokeStale = (start: Of<"step-start">, storedNonce: string | undefined): boolean => {
    const execution = executions.get(start.exec)
    return (
      execution !== undefined &&
      storedNonce !== start.nonce &&
      execution.stepStarts.at(-1) === start &&
      later(execution).length > 0 &&
      (input.pauses ?? []).some(
        (pause) => pause.proc === start.proc && pause.at < start.t && (pause.until ?? start.t) >= start.t - input.leaseMs
      )
    )
  }

  for (const { id, seed } of input.triggered) {
    const run = storedRuns.get(id)
    const history = () =>
      (byRun.get(id) ?? []).map((execution) => describe(execution.exec)).join(", ") || "never executed"

    // --- lost runs ----------------------------------------------------------------
    if (run === undefined || run.status !== "completed") {
      violations.lostRuns.push(
        `${id}: ${run === undefined ? "missing" : `status ${run.status}${run.error === null ? "" : `, error ${run.error}`}`}; ${history()}`
      )
    }

    // --- stored steps: one completed row each, written under a live lease ----------
    const rows = storedSteps.get(id) ?? []
    const producers = new Map<string, string>()
    let previous = seed
    for (let index = 0; index < input.steps; index++) {
      const name = stepName(index)
      const completed = rows.filter((row) => row.name === name && row.status === "completed")
      if (completed.length > 1) {
        violations.stepsPersistedTwice.push(`${id} ${name}: ${completed.length} completed rows: ${JSON.stringify(completed)}`)
      }
      const row = completed[0]
      if (row === undefined) {
        if (run?.status === "completed") integrity.push(`${id} ${name}: completed run without a stored result for this step`)
        continue
      }
      const parsed = StepOutput.safeParse(row.output)
      if (!parsed.success) {
        integrity.push(`${id} ${name}: unreadable stored output ${JSON.stringify(row.output)}`)
        continue
      }
      const output = parsed.data
      if (output.value !== nextValue(previous, index)) {
        integrity.push(`${id} ${name}: stored value ${output.value}, expected ${nextValue(previous, index)} from the step before`)
      }
      previous = output.value
      producers.set(name, output.nonce)
      const end = endsByNonce.get(output.nonce)
      if (end === undefined || end.run !== id || end.step !== name) {
        violations.staleLeaseWrites.push(
          `${id} ${name}: stored output ${JSON.stringify(output)} has no matching body end in the journals (${line(end)})`
        )
        continue
      }
      const producer = executions.get(end.exec)
      const overtaken = producer === undefined ? [] : later(producer).filter((other) => other.start.t < end.t)
      for (const other of overtaken) {
        violations.staleLeaseWrites.push(
          `${id} ${name}: stored result of ${describe(end.exec)}, whose body ended (${line(end)}) after ${describe(other.exec)} had claimed the run (${line(other.start)})`
        )
      }
    }

    // --- step bodies started again -------------------------------------------------
    for (let index = 0; index < input.steps; index++) {
      const name = stepName(index)
      const starts = stepStarts.get(`${id} ${name}`) ?? []
      for (let n = 1; n < starts.length; n++) {
        const before = starts[n - 1]!
        const again = starts[n]!
        if (wokeStale(again, producers.get(name))) {
          wokenStaleBodies++
          continue
        }
        // The woken body's result was fenced off, so the step had to run again.
        if (wokeStale(before, producers.get(name))) {
          inFlightReruns++
          continue
        }
        const execution = executions.get(before.exec)
        const lastOfItsExecution = execution?.stepStarts.at(-1) === before
        // A pause that began after this body started and before it started again took the lease away from it.
        const paused = (input.pauses ?? []).some(
          (pause) => pause.proc === before.proc && pause.at >= before.t && pause.at <= again.t
        )
        const killed = input.killed.has(before.proc) || paused
        const itsResultStored = producers.get(name) === before.nonce
        if (killed && lastOfItsExecution && !itsResultStored) {
          inFlightReruns++
          continue
        }
        const why = itsResultStored
          ? "its result had been stored"
          : !killed
            ? "its process was neither killed nor paused meanwhile"
            : "it was not the step in flight when its process was killed or paused"
        violations.unexcusedStepReruns.push(
          `${id} ${name}: started again by ${describe(again.exec)} (${line(again)}) after ${describe(before.exec)} (${line(before)}), but ${why}`
        )
      }
    }

    // --- completion -----------------------------------------------------------------
    const reported = completes.get(id) ?? []
    if (reported.length > 1) {
      completedAgain(id, `${id}: completion reported ${reported.length} times: ${reported.map(line).join(" ")}`)
    }
    if (run?.status !== "completed") continue
    const parsed = chaosShape.output.safeParse(run.output)
    if (!parsed.success) {
      integrity.push(`${id}: unreadable run output ${JSON.stringify(run.output)}`)
      continue
    }
    const output = parsed.data
    if (output.value !== valueAfter(seed, input.steps)) {
      integrity.push(`${id}: output value ${output.value}, expected ${valueAfter(seed, input.steps)}`)
    }
    const storedNonces = Array.from({ length: input.steps }, (_, index) => producers.get(stepName(index)) ?? "?")
    if (JSON.stringify(output.nonces) !== JSON.stringify(storedNonces)) {
      integrity.push(`${id}: the run's output used step results ${JSON.stringify(output.nonces)}, the stored ones are ${JSON.stringify(storedNonces)}`)
    }
    for (const report of reported) {
      if (report.exec !== output.exec) {
        completedAgain(
          id,
          `${id}: completion reported by ${describe(report.exec)} (${line(report)}) but the stored output is from ${describe(output.exec)}`
        )
      }
    }
    const producer = executions.get(output.exec)
    if (producer?.run !== id || producer.runEnd === undefined) {
      violations.staleLeaseWrites.push(
        `${id}: stored output from ${describe(output.exec)}, which never reached the end of this run's job function`
      )
      continue
    }
    const runEnd = producer.runEnd
    for (const other of later(producer)) {
      if (other.start.t < runEnd.t) {
        violations.staleLeaseWrites.push(
          `${id}: completed by ${describe(producer.exec)} (${line(runEnd)}) after ${describe(other.exec)} had claimed the run (${line(other.start)})`
        )
      } else {
        completedAgain(
          id,
          `${id}: executed again by ${describe(other.exec)} (${line(other.start)}) after ${describe(producer.exec)} completed it (${line(runEnd)})`
        )
      }
    }
  }

  // --- where the kills landed -------------------------------------------------------------
  let killsMidRun = 0
  let killsInBody = 0
  for (const proc of input.killed) {
    const own = [...executions.values()].filter((execution) => execution.proc === proc)
    if (own.some((execution) => execution.runEnd === undefined)) killsMidRun++
    if (own.some((execution) => execution.stepStarts.length > execution.stepEnds.length)) killsInBody++
  }

  const figures: Figures = {
    lostRuns: violations.lostRuns.length,
    runsCompletedTwice: completedTwice.size,
    staleLeaseWrites: violations.staleLeaseWrites.length,
    stepsPersistedTwice: violations.stepsPersistedTwice.length,
    unexcusedStepReruns: violations.unexcusedStepReruns.length
  }
  return {
    figures,
    violations,
    integrity,
    killsMidRun,
    killsInBody,
    inFlightReruns,
    wokenStaleBodies,
    aborted: [...executions.values()].filter((execution) => execution.aborts.length > 0).length,
    executions: executions.size,
    stepBodies,
    workerErrors
  }
}
