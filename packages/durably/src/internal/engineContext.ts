// How `createDurablyHandler` reaches the engine services of an instance made
// by `createDurably`, without putting them on the public type.
import type { Durably } from "@durably/core/Durably"
import type { EventBus } from "@durably/core/EventBus"
import type { Context } from "effect"

export const engineContext: unique symbol = Symbol.for("durably/engineContext")

export interface WithEngine {
  readonly [engineContext]: () => Promise<Context.Context<Durably | EventBus>>
}
