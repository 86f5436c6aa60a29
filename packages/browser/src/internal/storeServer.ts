// Answers a `Call` with a store: the method it names, applied to its
// arguments. The arguments come from another thread or tab running the same
// code, so they are taken as the method's parameters.
import type { Store } from "@durably/core/Store"
import type * as S from "@durably/core/Store"
import type { Duration, Effect } from "effect"
import { Clock, Option } from "effect"
import { Effect as E } from "effect"
import type { Call, Failure, Outcome } from "./protocol.js"
import { outcomeOf } from "./protocol.js"

const invoke = (store: Store["Type"], { args, method }: Call): Effect.Effect<unknown, Failure> => {
  const [a, b, c] = args
  switch (method) {
    case "migrate":
      return store.migrate
    case "enqueue":
      return store.enqueue(a as S.EnqueueRequest)
    case "enqueueBatch":
      return store.enqueueBatch(a as ReadonlyArray<S.EnqueueRequest>)
    case "claim":
      // `Option` does not survive structured clone: the run or null.
      return E.map(store.claim(a as S.ClaimOptions), Option.getOrNull)
    case "renew":
      return store.renew(a as S.Lease, b as number)
    case "persistStep":
      return store.persistStep(a as S.Lease, b as S.StepWrite)
    case "progress":
      return store.progress(a as S.Lease, b as Parameters<Store["Type"]["progress"]>[1])
    case "log":
      return store.log(a as S.Lease, b as S.LogWrite)
    case "complete":
      return store.complete(a as S.Lease, b, c as S.TerminalOptions)
    case "fail":
      return store.fail(a as S.Lease, b as string, c as S.TerminalOptions)
    case "release":
      return store.release(a as S.Lease)
    case "cancel":
      return store.cancel(a as string, b as S.TerminalOptions)
    case "retry":
      return store.retry(a as string)
    case "deleteRun":
      return store.deleteRun(a as string)
    case "purge":
      return store.purge(a as S.PurgeOptions)
    case "releaseExpired":
      return store.releaseExpired
    case "getRun":
      return store.getRun(a as string)
    case "getRuns":
      return store.getRuns(a as S.RunFilter | undefined)
    case "getSteps":
      return store.getSteps(a as string)
    case "getLogs":
      return store.getLogs(a as string)
  }
}

/** The clock of the caller: its time at the call, and sleeps as usual. */
class CallerClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  readonly currentTimeMillis: Effect.Effect<number>
  readonly currentTimeNanos: Effect.Effect<bigint>
  constructor(readonly now: number) {
    this.currentTimeMillis = E.succeed(now)
    this.currentTimeNanos = E.succeed(BigInt(now) * 1_000_000n)
  }
  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.now) * 1_000_000n
  }
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return E.sleep(duration)
  }
}

/** The outcome of `call` on `store`, run at the caller's time; never fails. */
export const serve = (store: Store["Type"], call: Call): Effect.Effect<Outcome> =>
  outcomeOf(call.id, E.withClock(E.suspend(() => invoke(store, call)), new CallerClock(call.now)))
