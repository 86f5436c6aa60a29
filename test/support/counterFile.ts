// Step bodies in crash tests append `<step> <runId> <pid>` to a file outside
// the database, so a test sees exactly which bodies ran, in which process.
import { existsSync, readFileSync } from "node:fs"

export interface Execution {
  readonly step: string
  readonly runId: string
  readonly pid: number
}

/** The step bodies that ran, in order, as the counter file recorded them. */
export const executions = (counterFile: string): Array<Execution> =>
  existsSync(counterFile)
    ? readFileSync(counterFile, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => {
          const [step = "", runId = "", pid = ""] = line.split(" ")
          return { step, runId, pid: Number(pid) }
        })
    : []
