// A `Store` whose every method is a call answered elsewhere (the database
// worker, or the tab that owns it). `send` carries a call and gives back its
// outcome; what each method returns is what the same method returned there.
import type { Store } from "@durably/core/Store"
import type { Effect } from "effect"
import { Clock, Effect as E, Option } from "effect"
import type { Failure, StoreMethod } from "./protocol.js"

/** Carries a call made at `now` (the caller's clock, epoch ms). */
export type Send = (method: StoreMethod, args: ReadonlyArray<unknown>, now: number) => Effect.Effect<unknown, Failure>

type Method<K extends keyof Store["Type"]> = Store["Type"][K]

export const make = (carry: Send): Store["Type"] => {
  const send = (method: StoreMethod, args: ReadonlyArray<unknown>) =>
    E.flatMap(Clock.currentTimeMillis, (now) => carry(method, args, now))
  /** The effect of `method`, typed as the store declares it. */
  const call = <K extends StoreMethod>(method: K, ...args: ReadonlyArray<unknown>) =>
    send(method, args) as Method<K> extends (...args: never) => infer R ? R : Method<K>
  return {
    migrate: send("migrate", []) as Method<"migrate">,
    releaseExpired: send("releaseExpired", []) as Method<"releaseExpired">,
    enqueue: (request) => call("enqueue", request),
    enqueueBatch: (requests) => call("enqueueBatch", requests),
    claim: (options) =>
      E.map(send("claim", [options]), (run) => Option.fromNullable(run)) as ReturnType<Method<"claim">>,
    renew: (lease, leaseMs) => call("renew", lease, leaseMs),
    persistStep: (lease, step) => call("persistStep", lease, step),
    progress: (lease, value) => call("progress", lease, value),
    log: (lease, entry) => call("log", lease, entry),
    complete: (lease, output, options) => call("complete", lease, output, options),
    fail: (lease, error, options) => call("fail", lease, error, options),
    release: (lease) => call("release", lease),
    cancel: (runId, options) => call("cancel", runId, options),
    retry: (runId) => call("retry", runId),
    deleteRun: (runId) => call("deleteRun", runId),
    purge: (options) => call("purge", options),
    getRun: (runId) => call("getRun", runId),
    getRuns: (filter) => call("getRuns", filter),
    getSteps: (runId) => call("getSteps", runId),
    getLogs: (runId) => call("getLogs", runId)
  }
}
