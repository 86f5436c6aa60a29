// The journals read as a history: executions (one call of the job function in
// one process, under one claim) with what each did, and the indexes the checks
// in analyze.ts look things up by.
import type { Entry } from "./journal.js"

export type Of<K extends Entry["k"]> = Extract<Entry, { k: K }>

export interface Execution {
  readonly exec: string
  readonly run: string
  readonly proc: string
  readonly start: Of<"exec-start">
  readonly stepStarts: Array<Of<"step-start">>
  readonly stepEnds: Array<Of<"step-end">>
  runEnd: Of<"run-end"> | undefined
  readonly aborts: Array<Of<"abort">>
  readonly attempt: number | null
}

export const push = <K, V>(map: Map<K, Array<V>>, key: K, value: V): void => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/** Whether `other` ran under a later claim of the run than `execution` (by attempt; by start when one is unknown). */
export const claimedAfter = (other: Execution, execution: Execution): boolean =>
  other !== execution &&
  (other.attempt !== null && execution.attempt !== null ? other.attempt > execution.attempt : other.start.t > execution.start.t)

const line = (entry: Entry): string => JSON.stringify(entry)

/** Indexes journal entries (ordered by time). */
export const readHistory = (entries: ReadonlyArray<Entry>) => {
  const problems: Array<string> = []
  const workerErrors: Array<string> = []
  const executions = new Map<string, Execution>()
  const byRun = new Map<string, Array<Execution>>()
  const stepStarts = new Map<string, Array<Of<"step-start">>>()
  const endsByNonce = new Map<string, Of<"step-end">>()
  const completes = new Map<string, Array<Of<"complete">>>()
  let stepBodies = 0
  const execOf = (entry: Entry & { readonly exec: string }): Execution | undefined => {
    const execution = executions.get(entry.exec)
    if (execution === undefined) problems.push(`journal line of an execution that never started: ${line(entry)}`)
    return execution
  }
  for (const entry of entries) {
    switch (entry.k) {
      case "exec-start": {
        const execution: Execution = {
          exec: entry.exec,
          run: entry.run,
          proc: entry.proc,
          start: entry,
          stepStarts: [],
          stepEnds: [],
          runEnd: undefined,
          aborts: [],
          attempt: entry.attempt
        }
        executions.set(entry.exec, execution)
        push(byRun, entry.run, execution)
        break
      }
      case "step-start":
        stepBodies++
        execOf(entry)?.stepStarts.push(entry)
        push(stepStarts, `${entry.run} ${entry.step}`, entry)
        break
      case "step-end":
        execOf(entry)?.stepEnds.push(entry)
        endsByNonce.set(entry.nonce, entry)
        break
      case "run-end": {
        const execution = execOf(entry)
        if (execution !== undefined) execution.runEnd = entry
        break
      }
      case "abort":
        execOf(entry)?.aborts.push(entry)
        break
      case "leased":
        break
      case "complete":
        push(completes, entry.run, entry)
        break
      case "worker-error":
        workerErrors.push(`${entry.proc}: ${entry.run === "" ? "" : `run ${entry.run}: `}${entry.error}`)
        break
    }
  }

  return { executions, byRun, stepStarts, endsByNonce, completes, stepBodies, workerErrors, problems }
}
