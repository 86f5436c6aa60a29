// A database the Promise facade does not open itself (a browser's OPFS
// database shared by tabs): the value passed as `database` provides the
// engine its `Store` and `EventBus`, and wires whatever it needs around the
// engine once built (a tab relaying events to other tabs).
import { Layer } from "effect"
import type { Durably } from "../Durably.js"
import * as EventBus from "../EventBus.js"
import type { Store } from "../Store.js"
import type { Worker } from "../Worker.js"

export const StorageTypeId: unique symbol = Symbol.for("@durably/core/Storage")

export interface Storage {
  readonly [StorageTypeId]: {
    /** `engine` with the store and the bus under it, and the storage's own wiring. */
    readonly provide: <ROut, E>(
      engine: Layer.Layer<ROut | Durably | Worker, E, Store | EventBus.EventBus>
    ) => Layer.Layer<ROut | Durably | Worker | Store | EventBus.EventBus, unknown>
  }
}

export const isStorage = (value: unknown): value is Storage =>
  typeof value === "object" && value !== null && StorageTypeId in value

/**
 * A storage of a store layer (over a `SqlClient`, say) and a bus of this
 * process's own; what the store layer provides besides (its `SqlClient`) stays
 * in the context too.
 */
export const ofStore = <A>(store: Layer.Layer<A | Store, unknown>): Storage => ({
  [StorageTypeId]: {
    provide: (engine) => engine.pipe(Layer.provideMerge(Layer.merge(store, EventBus.layer)))
  }
})
