// Every tab of an origin uses one database; one tab owns it. The owner holds
// the origin's Web Lock, runs the database worker and executes runs; the
// other tabs (followers) send their store calls to it over a BroadcastChannel
// and never claim a run. When the owner closes, the browser hands the lock to
// a waiting follower, which opens the database (putting back the leases the
// closed tab held: nothing else can be executing them) and becomes the owner.
//
// A follower's call that was sent to an owner that closed before answering
// is asked again of the new owner when it only reads, and fails with a
// `StoreError` when it writes (it may or may not have been written).
import { StoreError } from "@durably/core/DurablyError"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { Duration, Effect, ExecutionStrategy, Exit, Queue, Scope, SubscriptionRef } from "effect"
import type { BrowserStorageError } from "../BrowserStorageError.js"
import type { DatabaseWorker, OpenOptions } from "./dbWorker.js"
import * as DbWorker from "./dbWorker.js"
import type { Call, Failure, Outcome } from "./protocol.js"
import { fromOutcome, outcomeOf, readMethods } from "./protocol.js"
import type { Send } from "./storeClient.js"

export type Role = "owner" | "follower"

type TabMessage =
  | { readonly kind: "hello"; readonly from: string }
  | { readonly kind: "owner"; readonly from: string }
  | { readonly kind: "unavailable"; readonly from: string; readonly detail: string }
  | { readonly kind: "call"; readonly from: string; readonly to: string; readonly call: Call }
  | { readonly kind: "outcome"; readonly to: string; readonly outcome: Outcome }
  | { readonly kind: "event"; readonly from: string; readonly event: DurablyEvent }

export interface TabOptions extends OpenOptions {
  /** Names the Web Lock and the BroadcastChannel of this database. */
  readonly key: string
  /** How long a follower's call may wait for the owner's answer. */
  readonly ownerTimeout: Duration.DurationInput
}

export interface Tab {
  readonly id: string
  readonly send: Send
  readonly role: SubscriptionRef.SubscriptionRef<Role>
  /** Events published in other tabs, in the order they arrived. */
  readonly remoteEvents: Queue.Dequeue<DurablyEvent>
  /** Sends one of this tab's events to the other tabs. */
  readonly broadcast: (event: DurablyEvent) => void
}

interface Pending {
  readonly call: Call
  /** The owner it was sent to, if sent. */
  sentTo: string | undefined
  readonly resume: (effect: Effect.Effect<unknown, Failure>) => void
}

/** The lock, once granted: a function releasing it. `ifAvailable`: null at once when another tab holds it. */
const lock = (name: string, ifAvailable: boolean) =>
  Effect.async<(() => void) | null>((resume, signal) => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const options: LockOptions = ifAvailable ? { ifAvailable: true } : { signal }
    navigator.locks
      .request(name, options, (granted) => {
        if (granted === null) {
          resume(Effect.succeed(null))
          return
        }
        resume(Effect.succeed(release))
        return held
      })
      .catch(() => {
        // Aborted while waiting (the scope closed): nothing is held.
      })
  })

export const make = (options: TabOptions): Effect.Effect<Tab, BrowserStorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const id = crypto.randomUUID()
    const scope = yield* Effect.scope
    const role = yield* SubscriptionRef.make<Role>("follower")
    const remoteEvents = yield* Queue.unbounded<DurablyEvent>()
    const channel = yield* Effect.acquireRelease(
      Effect.sync(() => new BroadcastChannel(`durably:${options.key}`)),
      (channel) => Effect.sync(() => channel.close())
    )
    const post = (message: TabMessage) => channel.postMessage(message)

    let local: DatabaseWorker | undefined
    let owner: string | undefined
    let nextId = 0
    const pending = new Map<number, Pending>()

    /** The waiting call goes on as a call to this tab's own database. */
    const runLocally = (entry: Pending, database: DatabaseWorker) => {
      pending.delete(entry.call.id)
      const { args, method, now } = entry.call
      entry.resume(database.send(method, args, now))
    }

    const lost = (entry: Pending) => {
      pending.delete(entry.call.id)
      entry.resume(
        Effect.fail(
          new StoreError({
            operation: entry.call.method,
            cause: new Error("the tab that owned the database closed before answering: the write may or may not have been made")
          })
        )
      )
    }

    /** Where each waiting call goes now that `owner` changed. */
    const redirect = () => {
      for (const entry of [...pending.values()]) {
        if (entry.sentTo !== undefined && entry.sentTo !== owner && !readMethods.has(entry.call.method)) {
          lost(entry)
        } else if (local !== undefined) {
          runLocally(entry, local)
        } else if (owner !== undefined && entry.sentTo !== owner) {
          entry.sentTo = owner
          post({ kind: "call", from: id, to: owner, call: entry.call })
        }
      }
    }

    const failAll = (detail: string) => {
      for (const entry of [...pending.values()]) {
        pending.delete(entry.call.id)
        entry.resume(Effect.fail(new StoreError({ operation: entry.call.method, cause: new Error(detail) })))
      }
    }

    /**
     * Whether another tab of this database has ever spoken. Each tab speaks
     * when it starts (a follower asks who owns, an owner says so), so a tab
     * that has heard nobody is alone and keeps its events to itself.
     */
    let othersSeen = false

    channel.onmessage = (event: MessageEvent<TabMessage>) => {
      const message = event.data
      othersSeen = true
      switch (message.kind) {
        case "hello":
          if (local !== undefined) post({ kind: "owner", from: id })
          return
        case "owner":
          if (owner !== message.from) {
            owner = message.from
            redirect()
          }
          return
        case "unavailable":
          return failAll(message.detail)
        case "call": {
          const database = local
          if (message.to !== id || database === undefined) return
          const { call } = message
          Effect.runFork(outcomeOf(call.id, database.send(call.method, call.args, call.now))).addObserver((exit) => {
            if (Exit.isSuccess(exit)) post({ kind: "outcome", to: message.from, outcome: exit.value })
          })
          return
        }
        case "outcome": {
          if (message.to !== id) return
          const entry = pending.get(message.outcome.id)
          if (entry === undefined) return
          pending.delete(message.outcome.id)
          entry.resume(fromOutcome(message.outcome))
          return
        }
        case "event":
          remoteEvents.unsafeOffer(message.event)
      }
    }

    const send: Send = (method, args, now) =>
      Effect.suspend(() => {
        if (local !== undefined) return local.send(method, args, now)
        // A follower executes nothing.
        if (method === "claim") return Effect.succeed(null)
        const call: Call = { id: nextId++, method, args, now }
        return Effect.async<unknown, Failure>((resume) => {
          const entry: Pending = { call, sentTo: undefined, resume }
          pending.set(call.id, entry)
          if (owner !== undefined) {
            entry.sentTo = owner
            post({ kind: "call", from: id, to: owner, call })
          }
          return Effect.sync(() => {
            pending.delete(call.id)
          })
        }).pipe(
          // An owner tab the browser froze in the background keeps the lock and answers nothing.
          Effect.timeoutFail({
            duration: options.ownerTimeout,
            onTimeout: () =>
              new StoreError({
                operation: method,
                cause: new Error(
                  "the tab that owns the database did not answer in time (the browser may have frozen it in the background); a write may or may not have been made"
                )
              })
          })
        )
      })

    /** Opens the database in this tab, which holds the lock (released with `lockScope`). */
    const own = (lockScope: Scope.CloseableScope) =>
      Effect.gen(function* () {
        const database = yield* Scope.extend(DbWorker.open(options), lockScope)
        local = database
        owner = id
        post({ kind: "owner", from: id })
        redirect()
        yield* SubscriptionRef.set(role, "owner")
      })

    /** Takes the lock and opens the database, or fails. */
    const takeLock = (ifAvailable: boolean) =>
      Effect.gen(function* () {
        const release = yield* lock(`durably:${options.key}`, ifAvailable)
        if (release === null) return false
        const lockScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        yield* Scope.addFinalizer(lockScope, Effect.sync(release))
        yield* Effect.tapError(own(lockScope), (error) =>
          Effect.gen(function* () {
            local = undefined
            owner = undefined
            yield* Scope.close(lockScope, Exit.void)
            post({ kind: "unavailable", from: id, detail: error.detail })
            failAll(error.detail)
          })
        )
        return true
      })

    // The first tab opens the database, and its failure is the caller's.
    const owned = yield* takeLock(true)
    if (!owned) {
      post({ kind: "hello", from: id })
      // A follower waits for the lock; a failed takeover lets another tab try, and tries again later.
      yield* Effect.forkIn(
        takeLock(false).pipe(
          Effect.catchAll(() => Effect.as(Effect.sleep(Duration.seconds(2)), false)),
          Effect.repeat({ until: (owned) => owned })
        ),
        scope
      )
    }

    return {
      id,
      send,
      role,
      remoteEvents,
      broadcast: (event) => {
        if (othersSeen) post({ kind: "event", from: id, event })
      }
    }
  })
