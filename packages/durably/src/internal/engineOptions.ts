// The facade's timing options are whole milliseconds named `…Ms`; the engine
// takes durations under other names. This maps the one to the other, and
// names the engine's complaints the way the facade's caller wrote them.
import { Durably as Engine } from "@durably/core"
import { ValidationError } from "@durably/core/DurablyError"
import type * as Job from "@durably/core/Job"
import { Effect } from "effect"

/** The timing options of `createDurably`, each in milliseconds. */
export interface TimingOptions {
  /** How often an idle worker looks for runs, and a subscriber for other processes' changes (default 1000). */
  readonly pollingIntervalMs?: number | undefined
  /** How often a lease is renewed while no step is written (default 5000). */
  readonly leaseRenewIntervalMs?: number | undefined
  /** How long a lease lasts without renewal (default 30000). */
  readonly leaseMs?: number | undefined
  /** How long `stop` waits for in-flight runs before interrupting them (default 30000). */
  readonly shutdownTimeoutMs?: number | undefined
}

const facadeNames = {
  pollingInterval: "pollingIntervalMs",
  leaseRenewInterval: "leaseRenewIntervalMs",
  leaseDuration: "leaseMs",
  shutdownTimeout: "shutdownTimeoutMs"
} as const satisfies Record<string, keyof TimingOptions>

/** The engine's timing options for these (a number is a duration in milliseconds). */
export const engineTimings = (options: TimingOptions) => ({
  pollingInterval: options.pollingIntervalMs,
  leaseRenewInterval: options.leaseRenewIntervalMs,
  leaseDuration: options.leaseMs,
  shutdownTimeout: options.shutdownTimeoutMs
})

type Issue = ValidationError["issues"][number]

/**
 * The engine's check of `engineOptions`, with its issues under the facade's
 * names, plus the facade's own: each timing a positive whole number of
 * milliseconds. Undefined when all is well.
 */
export const checkOptions = (
  options: TimingOptions,
  engineOptions: Engine.Options<Job.Standalone>
): ValidationError | undefined => {
  const own: Array<Issue> = []
  for (const name of Object.values(facadeNames)) {
    const value = options[name]
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      own.push({ path: [name], message: `must be a positive whole number of milliseconds, got ${value}` })
    }
  }
  const checked = Effect.runSync(Effect.either(Engine.validate(engineOptions)))
  const engineIssues = checked._tag === "Left" ? checked.left.issues : []
  const renamed = engineIssues
    .map((issue): Issue => {
      const [first, ...rest] = issue.path
      const name = typeof first === "string" && first in facadeNames ? facadeNames[first as keyof typeof facadeNames] : first
      return { ...issue, path: name === undefined ? issue.path : [name, ...rest] }
    })
    .filter((issue) => !own.some((mine) => mine.path[0] === issue.path[0]))
  const issues = [...own, ...renamed]
  return issues.length === 0 ? undefined : new ValidationError({ subject: "options", issues })
}
