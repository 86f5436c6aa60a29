// The engine's options as its user writes them (durations of any form) and as
// the engine keeps them (milliseconds), with the check that names each bad one.
import type { Duration as D } from "effect"
import { Duration, Effect, Option } from "effect"
import { ValidationError } from "../DurablyError.js"
import type * as Job from "../Job.js"

/**
 * Engine settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<J extends Job.Any> {
  readonly jobs: ReadonlyArray<J>
  /** Lease owner name; default `worker-<random>`. */
  readonly workerId?: string | undefined
  /** How often an idle worker looks for runs, and a subscriber for changes made by other processes (default 1 second). */
  readonly pollingInterval?: D.DurationInput | undefined
  /** How often a lease is renewed while no step is written (default 5 seconds). */
  readonly leaseRenewInterval?: D.DurationInput | undefined
  /** How long a lease lasts without renewal (default 30 seconds). */
  readonly leaseDuration?: D.DurationInput | undefined
  /** Runs executed at once by this worker (default 1). */
  readonly maxConcurrentRuns?: number | undefined
  /** Keep step outputs after a run finishes (default false). */
  readonly preserveSteps?: boolean | undefined
  /** How long `stop` waits for in-flight runs before interrupting them (default 30 seconds). */
  readonly shutdownTimeout?: D.DurationInput | undefined
  /**
   * Purge finished runs older than this (e.g. `"30 days"`), checked while the
   * worker is idle, at most once a minute, 100 runs at a time. Default: keep all.
   */
  readonly retainRuns?: D.DurationInput | undefined
  /** Start the polling loop when the layer is built (default true). */
  readonly autoStart?: boolean | undefined
}

/** The options as the engine uses them: every duration in whole milliseconds. */
export interface Config {
  readonly workerId: string
  readonly pollingIntervalMs: number
  readonly leaseRenewIntervalMs: number
  readonly leaseMs: number
  readonly maxConcurrentRuns: number
  readonly preserveSteps: boolean
  readonly shutdownTimeoutMs: number
  readonly autoStart: boolean
  /** Finished runs older than this are purged while the worker is idle; undefined keeps them. */
  readonly retainRunsMs: number | undefined
}

type Issue = { readonly path: ReadonlyArray<string>; readonly message: string }

const randomWorkerId = (): string => {
  const bytes = new Uint8Array(6)
  globalThis.crypto.getRandomValues(bytes)
  return `worker-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`
}

/** A positive finite duration in milliseconds (rounded up, so it never becomes 0), or undefined. */
const positiveMillis = (input: D.DurationInput): number | undefined => {
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) return undefined
  const ms = Duration.toMillis(decoded.value)
  return ms > 0 ? Math.ceil(ms) : undefined
}

/** Names taken twice within `added`, or already taken in `registered` by a different job. */
export const checkJobNames = (
  added: ReadonlyArray<Job.Any>,
  registered: ReadonlyMap<string, Job.Any>
): Array<Issue> => {
  const seen = new Map(registered)
  const issues: Array<Issue> = []
  for (const job of added) {
    const other = seen.get(job.name)
    if (other !== undefined && other !== job) issues.push({ path: ["jobs"], message: `two jobs are named "${job.name}"` })
    seen.set(job.name, job)
  }
  return issues
}

/** Checks every option and names each bad one. */
export const validateOptions = <J extends Job.Any>(options: Options<J>): Effect.Effect<Config, ValidationError> => {
  const issues: Array<Issue> = []
  const duration = (name: keyof Options<J>, input: D.DurationInput | undefined, fallbackMs: number): number => {
    if (input === undefined) return fallbackMs
    const ms = positiveMillis(input)
    if (ms === undefined) issues.push({ path: [name], message: `must be a positive finite duration, got ${String(input)}` })
    return ms ?? fallbackMs
  }
  const maxConcurrentRuns = options.maxConcurrentRuns ?? 1
  if (!Number.isInteger(maxConcurrentRuns) || maxConcurrentRuns <= 0) {
    issues.push({ path: ["maxConcurrentRuns"], message: `must be a positive integer, got ${maxConcurrentRuns}` })
  }
  const config: Config = {
    workerId: options.workerId ?? randomWorkerId(),
    pollingIntervalMs: duration("pollingInterval", options.pollingInterval, 1000),
    leaseRenewIntervalMs: duration("leaseRenewInterval", options.leaseRenewInterval, 5000),
    leaseMs: duration("leaseDuration", options.leaseDuration, 30_000),
    maxConcurrentRuns,
    shutdownTimeoutMs: duration("shutdownTimeout", options.shutdownTimeout, 30_000),
    preserveSteps: options.preserveSteps ?? false,
    autoStart: options.autoStart ?? true,
    retainRunsMs: options.retainRuns === undefined ? undefined : positiveMillis(options.retainRuns)
  }
  if (config.workerId.length === 0) issues.push({ path: ["workerId"], message: "must not be empty" })
  if (config.leaseRenewIntervalMs >= config.leaseMs) {
    issues.push({
      path: ["leaseRenewInterval"],
      message: `must be shorter than the lease duration (${config.leaseMs} ms)`
    })
  }
  issues.push(...checkJobNames(options.jobs, new Map()))
  if (options.retainRuns !== undefined && config.retainRunsMs === undefined) {
    issues.push({ path: ["retainRuns"], message: `must be a positive duration, got ${String(options.retainRuns)}` })
  }
  return issues.length > 0 ? Effect.fail(new ValidationError({ subject: "options", issues })) : Effect.succeed(config)
}
