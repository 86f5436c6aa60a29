// The runtime of one `createDurably` instance: built (the database opened and
// migrated) on first use, jobs handed to the engine before any call that needs
// them, failures turned into the facade's errors, and disposal.
import { Durably as Engine, EventBus } from "@durably/core"
import type { UnsafeTrigger } from "@durably/core/Internal"
import { unsafeTriggerOf } from "@durably/core/Internal"
import type * as Job from "@durably/core/Job"
import type { Store } from "@durably/core/Store"
import type { Worker } from "@durably/core/Worker"
import type { Clock, Context, Layer } from "effect"
import { Effect, ManagedRuntime } from "effect"
import { DurablyError, StoreError } from "../errors.js"
import { settle, toFacadeError } from "./translate.js"

export type Services = Engine.Durably | Worker | EventBus.EventBus | Store

/** The engine's fast trigger and clock, for the calls done at once outside the runtime. */
export interface DirectTrigger {
  readonly trigger: UnsafeTrigger
  readonly clock: Clock.Clock
}

export interface Instance {
  readonly runtime: ManagedRuntime.ManagedRuntime<Services, unknown>
  /** The jobs of this instance by name. */
  readonly definitions: Map<string, Job.Standalone>
  /** Runs `effect` on the instance (opening it first); rejects with the facade's errors. */
  readonly use: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
  /** Builds the runtime once; a failure says what could not be opened. */
  readonly open: () => Promise<void>
  readonly isBuilt: () => boolean
  readonly isDisposed: () => boolean
  /** Whether jobs were added that the engine was not handed yet. */
  readonly isUnsynced: () => boolean
  /** After a `register` (`added`: `definitions` gained a job): the engine gets the jobs now if the runtime is built, else on first use. */
  readonly registered: (added: boolean) => void
  /** Set once the runtime is built (when the engine offers one). */
  readonly direct: () => DirectTrigger | undefined
  readonly context: () => Promise<Context.Context<Services>>
  readonly dispose: () => Promise<void>
}

const stopped = () => new DOMException("The operation was interrupted", "AbortError")

export const disposedError = () => new DurablyError("DisposedError", "this Durably instance was disposed", 500)

/** `onBuilt` runs once the runtime exists, before the call that built it goes on. */
export const makeInstance = (layer: Layer.Layer<Services, unknown>, onBuilt: () => void): Instance => {
  const runtime = ManagedRuntime.make(layer)
  const definitions = new Map<string, Job.Standalone>()
  let built = false
  let disposed = false
  let direct: DirectTrigger | undefined

  /** Hands jobs registered since the runtime was built to the engine (a no-op for known ones). */
  let unsynced = true
  const syncJobs = Effect.suspend(() => {
    if (!unsynced) return Effect.void
    return Effect.flatMap(Engine.Durably, (engine) =>
      Effect.tap(engine.register([...definitions.values()]), () => {
        unsynced = false
      })
    )
  })

  const open = async () => {
    try {
      await runtime.runtime()
      const { clock, engine } = runtime.runSync(Effect.all({ engine: Engine.Durably, clock: Effect.clock }))
      const trigger = unsafeTriggerOf(engine)
      direct = trigger === undefined ? undefined : { trigger, clock }
      built = true
      onBuilt()
    } catch (error) {
      const facadeError = toFacadeError(error)
      if (facadeError instanceof DurablyError) throw facadeError
      const detail = facadeError instanceof Error ? facadeError.message : String(facadeError)
      throw new StoreError({ operation: "open", detail }, { cause: error })
    }
  }

  const use = async <A, E>(effect: Effect.Effect<A, E, Services>): Promise<A> => {
    if (disposed) throw disposedError()
    if (!built) await open()
    const exit = await runtime.runPromiseExit(unsynced ? Effect.zipRight(syncJobs, effect) : effect)
    return settle(exit, stopped)
  }

  return {
    runtime,
    definitions,
    use,
    open,
    isBuilt: () => built,
    isDisposed: () => disposed,
    isUnsynced: () => unsynced,
    registered: (added) => {
      if (added) unsynced = true
      // A running worker must know the jobs before it claims their runs.
      if (built && !disposed) runtime.runSync(syncJobs)
    },
    direct: () => direct,
    context: async () => {
      if (disposed) throw disposedError()
      if (!built) await open()
      return (await runtime.runtime()).context
    },
    dispose: async () => {
      if (disposed) return
      disposed = true
      await runtime.dispose()
    }
  }
}
