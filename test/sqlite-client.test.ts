// Our SQLite client offers its connection directly (`SyncSqlite`) for the
// store's hot statements. Those must never land inside another fiber's
// `SqlClient` transaction (a rollback there would take them along), and must
// still work from inside the calling fiber's own transaction. A claim on a
// FULL connection commits relaxed, and leaves the connection at FULL.
import { Store } from "@durably/core/Store"
import type { SyncConnection } from "@durably/core/Internal"
import { SyncSqlite } from "@durably/core/Internal"
import { NodeStore } from "@durably/node"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber } from "effect"
import { enqueueNowOf } from "../packages/core/src/internal/storeDoors.js"
import { freshFile } from "./support/sqlite.js"

const layer = freshFile((filename) => NodeStore.sqlite({ filename }))

it.layer(layer)("SQLite client with direct access", (it) => {
  it.effect("a hot-path write waits for another fiber's transaction and survives its rollback", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* Store
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO durably_run_labels (run_id, key, value) VALUES ('marker', 'k', 'v')`
            yield* Deferred.succeed(inside, undefined)
            yield* Deferred.await(release)
            return yield* Effect.fail("roll back")
          })
        )
      )
      yield* Deferred.await(inside)
      // Enqueue while the transaction is open: it must wait, not join it.
      const enqueue = yield* Effect.fork(store.enqueue({ jobName: "job", input: { n: 1 } }))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30)))
      expect(enqueue.unsafePoll()).toBeNull()
      yield* Deferred.succeed(release, undefined)
      expect(Exit.isFailure(yield* Fiber.await(transaction))).toBe(true)
      const { run } = yield* Fiber.join(enqueue)
      expect((yield* store.getRun(run.id)).status).toBe("pending")
      const markers = yield* sql`SELECT * FROM durably_run_labels WHERE run_id = 'marker'`
      expect(markers).toHaveLength(0)
    })
  )

  it.effect("enqueueNow writes at once when the connection is free, steps aside while a transaction holds it, and fails as a StoreError", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* Store
      const enqueueNow = enqueueNowOf(store)
      if (enqueueNow === undefined) return expect.fail("the SQLite store enqueues at once")
      // A decorator is a new object: it offers no synchronous enqueue that would bypass it.
      expect(enqueueNowOf({ ...store })).toBeUndefined()
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(
        sql.withTransaction(Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(release)))
      )
      yield* Deferred.await(inside)
      expect(enqueueNow({ jobName: "job", input: { n: 4 } }, 1_000)).toBeUndefined()
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(transaction)
      const written = enqueueNow({ jobName: "job", input: { n: 5 } }, 2_000)
      if (written === undefined || Either.isLeft(written)) return expect.fail("written at once")
      expect(yield* store.getRun(written.right.run.id)).toMatchObject({ status: "pending", input: { n: 5 }, createdAt: new Date(2_000) })
      const before = (yield* store.getRuns()).length
      // JSON cannot hold a bigint: the statement's parameters throw.
      const failed = enqueueNow({ jobName: "job", input: { n: 6n } }, 3_000)
      expect(failed !== undefined && Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "StoreError", operation: "enqueue" })
      expect(yield* store.getRuns()).toHaveLength(before)
    })
  )

  it.effect("a hot-path write inside the caller's own transaction runs in it", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* Store
      const kept = yield* sql.withTransaction(store.enqueue({ jobName: "job", input: { n: 2 } }))
      expect((yield* store.getRun(kept.run.id)).status).toBe("pending")
      const rolledBack = yield* Effect.exit(
        sql.withTransaction(Effect.flatMap(store.enqueue({ jobName: "job", input: { n: 3 } }), (e) => Effect.fail(e.run.id)))
      )
      expect(Exit.isFailure(rolledBack)).toBe(true)
      const lostId = Exit.isFailure(rolledBack) ? String((rolledBack.cause as { error?: unknown }).error) : ""
      expect(yield* Effect.flip(store.getRun(lostId))).toMatchObject({ _tag: "NotFoundError" })
    })
  )
})

const full = freshFile((filename) => NodeStore.sqlite({ filename, synchronous: "FULL" }))

it.layer(full)("SQLite client with synchronous = FULL", (it) => {
  const level = (c: SyncConnection) => c.prepare("PRAGMA synchronous").all()[0]?.["synchronous"]

  it.effect("a relaxed body commits with synchronous = NORMAL, and FULL is back afterwards, also when it throws", () =>
    Effect.gen(function* () {
      const sync = yield* SyncSqlite
      const seen = yield* sync.use((c) => [level(c), c.relaxed(() => level(c)), level(c)])
      expect(seen).toEqual([2, 1, 2])
      const thrown = yield* Effect.exit(
        sync.use((c) =>
          c.relaxed(() => {
            throw new Error("boom")
          })
        )
      )
      expect(Exit.isFailure(thrown)).toBe(true)
      expect(yield* sync.use(level)).toBe(2)
    })
  )

  it.effect("a claim leaves the connection at FULL for the step writes that follow", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const sync = yield* SyncSqlite
      yield* store.enqueue({ jobName: "job", input: { n: 1 } })
      const claimed = yield* store.claim({ workerId: "w", leaseMs: 30_000, jobNames: ["job"] })
      expect(claimed._tag).toBe("Some")
      expect(yield* sync.use(level)).toBe(2)
    })
  )
})
