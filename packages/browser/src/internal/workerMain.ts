// The database worker: opens SQLite on OPFS (wa-sqlite with the access-handle
// pool VFS, synchronous in this thread), builds the store on it, and answers
// the page's store calls. The calls of one message start together, so the
// step writes of runs executing at the same time share one commit. Nothing
// here throws: a failure to open is reported as `open-failed`, since the page
// would otherwise wait for an answer that never comes.
/// <reference lib="webworker" />
import { SqlStore } from "@durably/core"
import { releaseAllOf, SyncSqliteClient } from "@durably/core/Internal"
import { Store } from "@durably/core/Store"
import * as WaSqlite from "@effect/wa-sqlite"
import SQLiteESMFactory from "@effect/wa-sqlite/dist/wa-sqlite.mjs"
import { AccessHandlePoolVFS } from "@effect/wa-sqlite/src/examples/AccessHandlePoolVFS.js"
import { Cause, Context, Duration, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { BrowserStorageError } from "../BrowserStorageError.js"
import type { FromWorker, OpenRequest, ToWorker } from "./messages.js"
import { perTurn } from "./perTurn.js"
import type { Outcome } from "./protocol.js"
import { serve } from "./storeServer.js"
import * as Driver from "./waSqliteDriver.js"

const messageOf = (cause: unknown) => (cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause))

/** Another tab's worker still holds the pool's files: it is closing, so try again for a while. */
const isHeldElsewhere = (error: BrowserStorageError) => error.detail.includes("NoModificationAllowedError")

const openPool = (request: OpenRequest, module: unknown) =>
  Effect.tryPromise({
    try: () => AccessHandlePoolVFS.create(request.directory, module),
    catch: (cause) =>
      new BrowserStorageError({
        reason: "no-opfs",
        detail: `the OPFS file pool could not be opened (${messageOf(cause)}); Durably needs a dedicated worker with OPFS access handles (Chromium 102+, Firefox 111+, Safari 16.4+)`
      })
  }).pipe(
    Effect.retry({
      schedule: Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo(Duration.seconds(5))),
      while: isHeldElsewhere
    })
  )

const poolFull = (vfs: AccessHandlePoolVFS, request: OpenRequest) =>
  new BrowserStorageError({
    reason: "pool-full",
    detail: `the OPFS file pool in ${request.directory} is full (${vfs.getCapacity()} files, ${vfs.getSize()} taken; the database needs 2): other files were opened in it; delete that directory or use another name`
  })

/** The store on the database `request` names, migrated, with every lease of a closed owner released. */
const open = (request: OpenRequest) =>
  Effect.gen(function* () {
    const module = yield* Effect.tryPromise({
      try: () => SQLiteESMFactory(),
      catch: (cause) =>
        new BrowserStorageError({
          reason: "worker",
          detail: `SQLite's wasm file could not be loaded (${messageOf(cause)}): serve wa-sqlite.wasm from where the bundler put it`
        })
    })
    const sqlite3 = WaSqlite.Factory(module)
    const vfs = yield* Effect.acquireRelease(openPool(request, module), (vfs) => Effect.promise(() => vfs.close()))
    sqlite3.vfs_register(vfs as unknown as SQLiteVFS, false)
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => sqlite3.open_v2(request.name, WaSqlite.SQLITE_OPEN_CREATE | WaSqlite.SQLITE_OPEN_READWRITE, vfs.name),
        catch: (cause) =>
          vfs.getSize() >= vfs.getCapacity()
            ? poolFull(vfs, request)
            : new BrowserStorageError({ reason: "open", detail: `SQLite could not open ${request.name}: ${messageOf(cause)}` })
      }),
      (db) => Effect.sync(() => sqlite3.close(db))
    )
    // The write-ahead log takes a file of the pool.
    if (vfs.getSize() >= vfs.getCapacity()) return yield* poolFull(vfs, request)
    const driver = Driver.make(sqlite3, db, request.synchronous === "FULL")
    yield* Effect.addFinalizer(() => Effect.sync(driver.finalize))
    // One connection ever uses the file (the worker of the tab holding the lock),
    // so the lock is taken for good, which lets WAL keep its index in memory:
    // the pool VFS has no shared memory. A commit then appends to the log, and
    // with NORMAL it is not flushed (see docs/browser.md).
    const journal = yield* Effect.try({
      try: () => {
        const pragma = (text: string) => driver.sync.prepare(`PRAGMA ${text}`).all()
        pragma("locking_mode = EXCLUSIVE")
        const mode = pragma("journal_mode = WAL")[0]
        pragma(`synchronous = ${request.synchronous}`)
        pragma("temp_store = memory")
        return String(Object.values(mode ?? {})[0])
      },
      catch: (cause) => new BrowserStorageError({ reason: "open", detail: `SQLite refused a pragma: ${messageOf(cause)}` })
    })
    if (journal !== "wal") {
      return yield* new BrowserStorageError({ reason: "open", detail: `SQLite kept journal mode ${journal} instead of WAL` })
    }
    const context = yield* Layer.build(
      SqlStore.layerMigrated.pipe(Layer.provide(SyncSqliteClient.layer(Effect.succeed(driver))))
    ).pipe(
      Effect.mapError(
        (cause) => new BrowserStorageError({ reason: "open", detail: `the database could not be migrated: ${messageOf(cause)}` })
      )
    )
    const opened = Context.get(context, Store)
    // This tab holds the origin's lock, so the tab that held leases is gone.
    const releaseAll = releaseAllOf(opened)
    const released = releaseAll === undefined ? 0 : yield* Effect.orDie(releaseAll)
    return { store: opened, released }
  })

/** Serves the page on `port` (the worker's global scope). */
export const serveOn = (port: DedicatedWorkerGlobalScope): void => {
  const post = (message: FromWorker) => port.postMessage(message)
  const answer = perTurn<Outcome>((outcomes) => post({ type: "outcomes", outcomes }))

  const scope = Effect.runSync(Scope.make())
  let store: Store["Type"] | undefined
  const queued: Array<ToWorker> = []

  const handle = (message: ToWorker) => {
    if (message.type === "open") {
      Effect.runFork(
        Effect.matchCause(Scope.extend(open(message), scope), {
          onSuccess: (opened) => {
            store = opened.store
            post({ type: "ready", released: opened.released })
            for (const waiting of queued.splice(0)) handle(waiting)
          },
          onFailure: (cause) => {
            const failure = Cause.failureOption(cause)
            const error =
              failure._tag === "Some"
                ? failure.value
                : new BrowserStorageError({ reason: "open", detail: Cause.pretty(cause).split("\n")[0] ?? "unknown" })
            post({ type: "open-failed", reason: error.reason, detail: error.detail })
            Effect.runFork(Scope.close(scope, Exit.void))
          }
        })
      )
      return
    }
    if (store === undefined) {
      queued.push(message)
      return
    }
    for (const call of message.calls) Effect.runFork(Effect.map(serve(store, call), answer))
  }

  port.addEventListener("message", (event: MessageEvent<ToWorker>) => handle(event.data))
}
