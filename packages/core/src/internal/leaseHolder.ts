// What one execution does as the holder of a run's lease: its fenced writes
// (lease loss stops the job; a failing store is retried with backoff while the
// lease is valid), the renewal loop, and the state it shares with whoever
// stops it.
import type { Fiber } from "effect"
import { Clock, Duration, Effect, Fiber as F, Schedule } from "effect"
import type { LeaseLostError, StoreError } from "../DurablyError.js"
import type { EventBus } from "../EventBus.js"
import type { Run } from "../Run.js"
import type { Lease, Store } from "../Store.js"
import { describeFailure } from "./describe.js"

export interface ExecutionConfig {
  readonly workerId: string
  readonly leaseMs: number
  readonly leaseRenewIntervalMs: number
  readonly preserveSteps: boolean
}

/** Why an execution was stopped from outside its job. */
export type StopReason = "lease-lost" | "cancelled" | "shutdown"

/** The state an execution shares between its fiber, its renewal fiber and whoever stops it. */
export interface Control {
  reason: StopReason | undefined
  /** The execution's fiber, while it runs the job (the only time it can be interrupted). */
  running: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** The lease's expiry as last written (claim, renewal or step write), epoch ms. */
  expiresAt: number
  /** Forks the renewal fiber into the run's scope, while the job runs and until it has been forked. */
  startRenewal: Effect.Effect<void> | undefined
  /**
   * A step's body was interrupted: it may still be running (a promise that
   * ignores its abort signal cannot be stopped), so the lease must not be
   * handed back before it expires.
   */
  stepInterrupted: boolean
}

export interface Deps {
  readonly store: Store["Type"]
  readonly bus: EventBus["Type"]
  readonly config: ExecutionConfig
}

export interface Base {
  readonly runId: string
  readonly jobName: string
}

/** The current time from the `Clock`, as a `Date` (event timestamps). */
export const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

/**
 * Records why the execution stops (the first reason wins) and interrupts the
 * job, if it runs (a job stopping itself, from its own fiber, interrupts itself).
 */
export const halt = (control: Control, reason: StopReason): Effect.Effect<void> =>
  Effect.withFiberRuntime((current) => {
    control.reason ??= reason
    const fiber = control.running
    return fiber === undefined || fiber === current ? Effect.void : F.interruptFork(fiber)
  })

const firstRetryMs = 50
const longestRetryMs = 1_000

/**
 * Retries of a failing store (after a first one at once): exponential from
 * 50 ms, each wait at most a second, only for `StoreError` (a lost lease is
 * final), and only while the retry would still start before `giveUpAt`
 * (epoch ms), past which another worker may hold the run.
 */
const storeRetries = (giveUpAt: number) =>
  Schedule.exponential(Duration.millis(firstRetryMs)).pipe(
    Schedule.map((delay) => Duration.min(delay, Duration.millis(longestRetryMs))),
    Schedule.modifyDelay((delay) => delay),
    Schedule.whileInput((error: StoreError | LeaseLostError) => error._tag === "StoreError"),
    Schedule.checkEffect((_, delay: Duration.Duration) =>
      Effect.map(Clock.currentTimeMillis, (ms) => ms + Duration.toMillis(delay) < giveUpAt)
    )
  )

/** The fenced writes of one lease holder, with lease loss and store failures handled. */
export const leaseHolder = (run: Run, deps: Deps, control: Control) => {
  const { bus, config, store } = deps
  const lease: Lease = { runId: run.id, generation: run.leaseGeneration }
  const base: Base = { runId: run.id, jobName: run.jobName }

  const reportError = (cause: unknown) =>
    Effect.flatMap(now, (timestamp) =>
      bus.publish({ type: "worker:error", timestamp, error: describeFailure(cause), ...base })
    )

  /**
   * `effect` retried while the store fails, until the lease expiry as it
   * stood at the first failure (renewals moving it on must not turn a
   * permanent failure into endless retries).
   */
  const retried = <A>(effect: Effect.Effect<A, StoreError | LeaseLostError>): Effect.Effect<A, StoreError | LeaseLostError> =>
    Effect.catchTag(effect, "StoreError", () => Effect.retry(effect, storeRetries(control.expiresAt)))

  /** The lease is gone: record why, stop the job, and stop the calling fiber. */
  const lose = Effect.zipRight(halt(control, "lease-lost"), Effect.interrupt)

  /** A fenced write made while the job runs: lease loss, or a store failing past the lease, stops the job. */
  const write = <A>(effect: Effect.Effect<A, StoreError | LeaseLostError>): Effect.Effect<A> =>
    Effect.catchAll(retried(effect), (error) =>
      error._tag === "LeaseLostError" ? lose : Effect.zipRight(reportError(error), lose)
    )

  /** A step write extended the lease: the next renewal is due one interval later. */
  const heartbeat = Effect.map(Clock.currentTimeMillis, (ms) => {
    control.expiresAt = ms + config.leaseMs
  })

  // Renewal: the next renewal is due one interval after the last heartbeat
  // (claim, renewal or step write); a renewal that keeps failing gives up at the
  // expiry it last wrote, since past that another worker may hold the run.
  const renewal = Effect.gen(function* () {
    while (true) {
      const ms = yield* Clock.currentTimeMillis
      const due = control.expiresAt - config.leaseMs + config.leaseRenewIntervalMs
      if (due > ms) {
        yield* Effect.sleep(Duration.millis(due - ms))
        continue
      }
      const renewed = yield* write(store.renew(lease, config.leaseMs))
      control.expiresAt = renewed
      yield* bus.emit("run:lease-renewed", (timestamp) => ({
        type: "run:lease-renewed",
        ...base,
        timestamp,
        leaseOwner: config.workerId,
        leaseExpiresAt: new Date(renewed)
      }))
    }
  })

  return { lease, base, retried, write, heartbeat, renewal, reportError }
}

export type LeaseHolder = ReturnType<typeof leaseHolder>
