// Ways into a store that are not part of the `Store` service: an
// implementation offers them for the exact object it built, so a decorator
// that builds a new object (and may change what `enqueue` does) offers none.
import type { Effect, Either } from "effect"
import type { CorruptRowError, StoreError } from "../DurablyError.js"
import type { EnqueueRequest, Enqueued, Store } from "../Store.js"

/**
 * `enqueue` at `now` (epoch ms) done at once, for a store that can write
 * without waiting (SQLite, while no transaction holds the connection): its
 * outcome, or `undefined` when only `enqueue` can do it.
 */
export type EnqueueNow = (
  request: EnqueueRequest,
  now: number
) => Either.Either<Enqueued, StoreError | CorruptRowError> | undefined

const enqueueNows = new WeakMap<Store["Type"], EnqueueNow>()

/** The store's synchronous enqueue, if this exact store object has one (a decorator that builds a new object has none). */
export const enqueueNowOf = (store: Store["Type"]): EnqueueNow | undefined => enqueueNows.get(store)

/** Offers `enqueueNow` as `store`'s synchronous enqueue; returns `store`. */
export const withEnqueueNow = (store: Store["Type"], enqueueNow: EnqueueNow): Store["Type"] => {
  enqueueNows.set(store, enqueueNow)
  return store
}

const releaseAlls = new WeakMap<Store["Type"], Effect.Effect<number, StoreError>>()

/**
 * Puts every leased run back to pending, expired or not; how many. Only for a
 * store whose one executor is known to be gone (a browser tab that took the
 * database over from a closed one): a live holder would lose its lease.
 */
export const releaseAllOf = (store: Store["Type"]): Effect.Effect<number, StoreError> | undefined => releaseAlls.get(store)

/** Offers `releaseAll` on `store`; returns `store`. */
export const withReleaseAll = (store: Store["Type"], releaseAll: Effect.Effect<number, StoreError>): Store["Type"] => {
  releaseAlls.set(store, releaseAll)
  return store
}
