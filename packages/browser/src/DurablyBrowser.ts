/**
 * Durably in the browser: the store on SQLite WASM in the Origin Private
 * File System, run by a dedicated worker, and shared by every tab of the
 * origin. One tab (the first, holding a Web Lock) owns the database and
 * executes runs; the others trigger, read, cancel, retry and watch through
 * it, and one of them takes over when it closes, resuming the runs it left
 * mid-way at their next step.
 *
 * @since 0.1.0
 */
import { Durably, EventBus } from "@durably/core"
import type { ValidationError } from "@durably/core/DurablyError"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import type { Storage } from "@durably/core/Internal"
import { StorageTypeId, stopCancelledOf } from "@durably/core/Internal"
import type * as Job from "@durably/core/Job"
import { Store } from "@durably/core/Store"
import { Worker } from "@durably/core/Worker"
import { Context, Duration, Effect, Layer, Queue, Stream, SubscriptionRef } from "effect"
import { BrowserStorageError } from "./BrowserStorageError.js"
import { defaultWorker } from "./internal/defaultWorker.js"
import * as Environment from "./internal/environment.js"
import * as StoreClient from "./internal/storeClient.js"
import type { Role, Tab } from "./internal/tabs.js"
import * as Tabs from "./internal/tabs.js"

export type { Role } from "./internal/tabs.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface BrowserOptions {
  /**
   * The database: the name tabs share it by, and its directory in OPFS
   * (`.durably/<name>`, a file pool of its own). Letters, digits, `-`, `_`
   * and `.`; default `"durably"`.
   */
  readonly name?: string | undefined
  /** Starts the database worker (default: `@durably/browser/worker` as a module worker, found by the bundler). */
  readonly worker?: (() => globalThis.Worker) | undefined
  /**
   * `NORMAL` (default): a commit is written to the file at once and survives
   * the tab or the browser crashing, but is flushed to the disk only now and
   * then, so a power loss may lose the last ones (never corrupting the file).
   * `FULL`: each commit is flushed before it is answered; the step writes of
   * runs executing together then share one flush.
   */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
  /** How long opening may take before it fails with `BrowserStorageError` (default 10 seconds). */
  readonly openTimeout?: Duration.DurationInput | undefined
  /**
   * How long a follower tab's call waits for the owner tab's answer before it
   * fails with `StoreError` (default 30 seconds): a browser may freeze a tab in
   * the background, which then keeps the database and answers nothing.
   */
  readonly ownerTimeout?: Duration.DurationInput | undefined
}

/**
 * This tab's part: `owner` executes runs, a `follower` sends its calls to the owner.
 *
 * @since 0.1.0
 * @category tags
 */
export class BrowserTab extends Context.Tag("@durably/browser/BrowserTab")<
  BrowserTab,
  {
    readonly id: string
    readonly role: Effect.Effect<Role>
    /** The role now, then each change. */
    readonly roles: Stream.Stream<Role>
  }
>() {}

/** Relays events between tabs; the owner wakes its worker for other tabs' runs and stops runs they cancel. */
const wire = (tab: Tab, onRole: (role: Role) => void) =>
  Effect.gen(function* () {
    const bus = yield* EventBus.EventBus
    const worker = yield* Worker
    const stopCancelled = stopCancelledOf(yield* Durably.Durably)
    const fromOtherTabs = new WeakSet<DurablyEvent>()

    const mine = yield* bus.subscribe
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(mine), (event) =>
          fromOtherTabs.has(event) ? Effect.void : Effect.ignore(Effect.try(() => tab.broadcast(event)))
        )
      )
    )

    const arrived = (event: DurablyEvent) =>
      Effect.gen(function* () {
        fromOtherTabs.add(event)
        yield* bus.publish(event)
        if ((yield* SubscriptionRef.get(tab.role)) !== "owner") return
        if (event.type === "run:trigger" || event.type === "run:retry") yield* worker.wake
        if (event.type === "run:cancel" && stopCancelled !== undefined) yield* stopCancelled(event.runId)
      })
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(tab.remoteEvents), arrived)))

    // A new owner claims at once the runs the closed one left.
    yield* Effect.forkScoped(
      Stream.runForEach(tab.role.changes, (role) => {
        onRole(role)
        return role === "owner" ? worker.wake : Effect.void
      })
    )
  })

const validName = /^[A-Za-z0-9._-]{1,64}$/

/** Builds the tab, then `engine` on its store and a bus relayed to the other tabs. */
const provideEngine =
  (options: BrowserOptions, onRole: (role: Role) => void) =>
  <ROut, E, RIn>(
    engine: Layer.Layer<ROut | Durably.Durably | Worker, E, RIn>
  ): Layer.Layer<
    ROut | Durably.Durably | Worker | Store | EventBus.EventBus | BrowserTab,
    E | BrowserStorageError,
    Exclude<RIn, Store | EventBus.EventBus | BrowserTab>
  > =>
    Layer.unwrapScoped(
      Effect.gen(function* () {
        const name = options.name ?? "durably"
        if (!validName.test(name)) {
          return yield* new BrowserStorageError({
            reason: "open",
            detail: `name must be 1 to 64 letters, digits, "-", "_" or "." (got ${JSON.stringify(name)})`
          })
        }
        yield* Environment.check
        const tab = yield* Tabs.make({
          key: name,
          name: "durably.sqlite3",
          directory: `.durably/${name}`,
          synchronous: options.synchronous ?? "NORMAL",
          openTimeout: options.openTimeout ?? Duration.seconds(10),
          ownerTimeout: options.ownerTimeout ?? Duration.seconds(30),
          makeWorker: options.worker ?? defaultWorker
        })
        const base = Layer.mergeAll(
          Layer.succeed(Store, StoreClient.make(tab.send)),
          EventBus.layer,
          Layer.succeed(
            BrowserTab,
            BrowserTab.of({ id: tab.id, role: SubscriptionRef.get(tab.role), roles: tab.role.changes })
          )
        )
        return Layer.scopedDiscard(wire(tab, onRole)).pipe(Layer.provideMerge(engine), Layer.provideMerge(base))
      })
    )

/**
 * `Durably` and its `Worker` in this tab, on the origin's shared database.
 * Build it once per page; the worker loop starts unless `autoStart` is false
 * (it executes runs only while this tab owns the database).
 *
 * @example
 * const DurablyLive = DurablyBrowser.layer({ name: "app", jobs: [importContacts] })
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <J extends Job.Any>(
  options: BrowserOptions & Durably.Options<J>
): Layer.Layer<
  Durably.Durably | Worker | Store | EventBus.EventBus | BrowserTab,
  BrowserStorageError | ValidationError,
  Job.Requirements<J>
> => provideEngine(options, () => {})(Durably.layer(options))

/**
 * The browser database as the Promise facade takes it:
 * `createDurably({ database: browserDatabase({ name: "app" }), jobs })`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BrowserDatabase extends Storage {
  /** This tab's role once the instance using this database is open (`undefined` before). */
  readonly role: () => Role | undefined
  /** Calls `listener` with the role now and at each change; returns the unsubscribe function. */
  readonly onRoleChange: (listener: (role: Role) => void) => () => void
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const database = (options: BrowserOptions = {}): BrowserDatabase => {
  let current: Role | undefined
  const listeners = new Set<(role: Role) => void>()
  const onRole = (role: Role) => {
    current = role
    for (const listener of listeners) listener(role)
  }
  return {
    [StorageTypeId]: { provide: provideEngine(options, onRole) },
    role: () => current,
    onRoleChange: (listener) => {
      listeners.add(listener)
      if (current !== undefined) listener(current)
      return () => listeners.delete(listener)
    }
  }
}
