// The store's contract, as one suite run on every backend. Each test gets a
// fresh database from `layer`; time is the TestClock (it starts at 0), so lease
// expiry is driven by `TestClock.adjust`.
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import type { Enqueued, Store as StoreService } from "@durably/core/Store"
import { Store } from "@durably/core/Store"
import { Context, Effect, Either, Exit, Fiber, Layer, Option, TestClock } from "effect"

type Env = Store | SqlClient.SqlClient
type StoreApi = StoreService["Type"]

const leaseMs = 30_000
/** Every job the suite enqueues runs of. */
const jobNames = ["j", "a", "b", "c", "sync"]
const keep = { deleteSteps: false }
const cleanup = { deleteSteps: true }

const claimOrFail = (store: StoreApi, workerId = "w1") =>
  Effect.flatMap(store.claim({ workerId, leaseMs, jobNames }), (claimed) =>
    Option.match(claimed, { onNone: () => Effect.dieMessage("expected a claimable run"), onSome: Effect.succeed })
  )

const leaseOf = (run: { readonly id: string; readonly leaseGeneration: number }) => ({
  runId: run.id,
  generation: run.leaseGeneration
})

const step = (name: string, index: number, output: unknown = { name }) => ({
  name,
  index,
  status: "completed" as const,
  output,
  startedAt: 0
})

const errorTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result) => (Either.isLeft(result) ? result.left._tag : "success"))

/** A `SqlClient` for a backend that offers none to its caller: the tests that need one are left out there. */
const noSqlClient = Layer.succeed(
  SqlClient.SqlClient,
  new Proxy({} as SqlClient.SqlClient, {
    get: () => {
      throw new Error("this backend offers no SqlClient to the caller")
    }
  })
)

/**
 * The suite on `layer`. A backend whose caller has no `SqlClient` on the
 * store's database (the browser, where it lives in a worker) passes
 * `sql: false`: the tests that write rows by hand or use the caller's
 * transaction are left out there.
 */
export function storeSuite(name: string, layer: Layer.Layer<Env, unknown>): void
export function storeSuite(name: string, layer: Layer.Layer<Store, unknown>, options: { readonly sql: false }): void
export function storeSuite(name: string, layer: Layer.Layer<Env, unknown> | Layer.Layer<Store, unknown>, options?: { readonly sql: false }): void {
  const withSql = options?.sql !== false
  const env = (withSql ? layer : Layer.merge(layer, noSqlClient)) as Layer.Layer<Env, unknown>
  const test = (title: string, body: (store: StoreApi) => Effect.Effect<void, unknown, Env>) =>
    it.effect(title, () => Effect.flatMap(Store, body).pipe(Effect.provide(env), Effect.orDie))
  /** A group of tests that all need the caller's `SqlClient`: not part of the suite without one. */
  const describeSql = (title: string, body: () => void) => {
    if (withSql) describe(title, body)
  }
  /** A test that needs the caller's `SqlClient` on the store's database: not part of the suite without one. */
  const sqlTest = (title: string, body: (store: StoreApi) => Effect.Effect<void, unknown, Env>) => {
    if (withSql) test(title, body)
  }

  describe(`store conformance: ${name}`, () => {
    describeSql("migrations", () => {
      sqlTest("migrating twice is a no-op and records each version once", (store) =>
        Effect.gen(function* () {
          yield* store.migrate
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ migration_id: number }>`SELECT migration_id FROM durably_schema_versions`
          const ids = rows.map((row) => Number(row.migration_id))
          expect(ids.length).toBeGreaterThan(0)
          expect(new Set(ids).size).toBe(ids.length)
        }))
    })

    describe("enqueue", () => {
      test("a new run is pending with its input, labels and timestamps from the clock", (store) =>
        Effect.gen(function* () {
          yield* TestClock.adjust(1234)
          const { run, disposition } = yield* store.enqueue({
            jobName: "sync",
            input: { orgId: "o1", n: [1, 2] },
            labels: { tenant: "t1" }
          })
          expect(disposition).toBe("created")
          expect(run.status).toBe("pending")
          expect(run.input).toEqual({ orgId: "o1", n: [1, 2] })
          expect(run.labels).toEqual({ tenant: "t1" })
          expect(run.createdAt.getTime()).toBe(1234)
          expect(run.attempt).toBe(0)
          expect(run.leaseGeneration).toBe(0)
          expect(yield* store.getRun(run.id)).toEqual(run)
        }))

      test("run ids sort in trigger order", (store) =>
        Effect.gen(function* () {
          const ids: Array<string> = []
          for (let i = 0; i < 20; i++) ids.push((yield* store.enqueue({ jobName: "j", input: i })).run.id)
          expect([...ids].sort()).toEqual(ids)
        }))

      test("the same idempotency key returns the existing run and adds none", (store) =>
        Effect.gen(function* () {
          const first = yield* store.enqueue({ jobName: "sync", input: 1, idempotencyKey: "k" })
          const second = yield* store.enqueue({ jobName: "sync", input: 2, idempotencyKey: "k" })
          expect(second.disposition).toBe("idempotent")
          expect(second.run.id).toBe(first.run.id)
          expect(second.run.input).toBe(1)
          expect(yield* store.getRuns({ jobName: "sync" })).toHaveLength(1)
        }))

      test("idempotency keys are scoped to the job name", (store) =>
        Effect.gen(function* () {
          const a = yield* store.enqueue({ jobName: "a", input: 1, idempotencyKey: "k" })
          const b = yield* store.enqueue({ jobName: "b", input: 1, idempotencyKey: "k" })
          expect(b.disposition).toBe("created")
          expect(b.run.id).not.toBe(a.run.id)
        }))

      test("a batch is stored in input order, and a repeated key inside it is idempotent", (store) =>
        Effect.gen(function* () {
          const results = yield* store.enqueueBatch([
            { jobName: "j", input: 1, idempotencyKey: "x" },
            { jobName: "j", input: 2, labels: { a: "1" } },
            { jobName: "j", input: 3, idempotencyKey: "x" }
          ])
          expect(results.map((r) => r.disposition)).toEqual(["created", "created", "idempotent"])
          expect(results[2]?.run.id).toBe(results[0]?.run.id)
          expect(results[1]?.run.labels).toEqual({ a: "1" })
          expect(yield* store.getRuns()).toHaveLength(2)
        }))

      test("coalesce skip returns the pending run with the same key, and creates once it is leased", (store) =>
        Effect.gen(function* () {
          const first = yield* store.enqueue({ jobName: "j", input: 1, concurrencyKey: "k", coalesce: "skip" })
          const second = yield* store.enqueue({ jobName: "j", input: 2, concurrencyKey: "k", coalesce: "skip" })
          expect(second.disposition).toBe("coalesced")
          expect(second.run.id).toBe(first.run.id)
          yield* claimOrFail(store)
          const third = yield* store.enqueue({ jobName: "j", input: 3, concurrencyKey: "k", coalesce: "skip" })
          expect(third.disposition).toBe("created")
          expect(yield* store.getRuns()).toHaveLength(2)
        }))
    })

    describe("queries", () => {
      test("getRuns filters by one or many statuses and job names, and by labels", (store) =>
        Effect.gen(function* () {
          const a = (yield* store.enqueue({ jobName: "a", input: 1, labels: { env: "prod", team: "x" } })).run
          const b = (yield* store.enqueue({ jobName: "b", input: 2, labels: { env: "dev" } })).run
          const c = (yield* store.enqueue({ jobName: "c", input: 3, labels: { env: "prod" } })).run
          yield* store.cancel(c.id, keep)
          const ids = (runs: ReadonlyArray<{ readonly id: string }>) => runs.map((run) => run.id).sort()
          expect(ids(yield* store.getRuns({ status: "pending" }))).toEqual(ids([a, b]))
          expect(ids(yield* store.getRuns({ status: ["pending", "cancelled"] }))).toEqual(ids([a, b, c]))
          expect(ids(yield* store.getRuns({ jobName: "b" }))).toEqual([b.id])
          expect(ids(yield* store.getRuns({ jobName: ["a", "c"] }))).toEqual(ids([a, c]))
          expect(ids(yield* store.getRuns({ labels: { env: "prod" } }))).toEqual(ids([a, c]))
          expect(ids(yield* store.getRuns({ labels: { env: "prod", team: "x" } }))).toEqual([a.id])
          expect(ids(yield* store.getRuns({ labels: { env: "prod" }, status: "pending" }))).toEqual([a.id])
        }))

      test("getRuns pages newest first in a stable order", (store) =>
        Effect.gen(function* () {
          const ids: Array<string> = []
          for (let i = 0; i < 7; i++) ids.push((yield* store.enqueue({ jobName: "j", input: i })).run.id)
          const newestFirst = [...ids].reverse()
          const page1 = yield* store.getRuns({ limit: 3 })
          const page2 = yield* store.getRuns({ limit: 3, offset: 3 })
          const page3 = yield* store.getRuns({ limit: 3, offset: 6 })
          expect([...page1, ...page2, ...page3].map((run) => run.id)).toEqual(newestFirst)
        }))

      test("a missing run is a NotFoundError", (store) =>
        Effect.gen(function* () {
          expect(yield* errorTag(store.getRun("nope"))).toBe("NotFoundError")
          expect(yield* store.getSteps("nope")).toEqual([])
        }))
    })

    describe("claim", () => {
      test("claims the oldest pending run and leases it", (store) =>
        Effect.gen(function* () {
          yield* TestClock.adjust(1000)
          const first = (yield* store.enqueue({ jobName: "j", input: 1 })).run
          yield* store.enqueue({ jobName: "j", input: 2 })
          const claimed = yield* claimOrFail(store, "worker-a")
          expect(claimed.id).toBe(first.id)
          expect(claimed.status).toBe("leased")
          expect(claimed.leaseOwner).toBe("worker-a")
          expect(claimed.leaseExpiresAt?.getTime()).toBe(1000 + leaseMs)
          expect(claimed.leaseGeneration).toBe(1)
          expect(claimed.attempt).toBe(1)
          expect(claimed.startedAt?.getTime()).toBe(1000)
        }))

      test("finds nothing when the queue is empty or every run is live-leased", (store) =>
        Effect.gen(function* () {
          expect(Option.isNone(yield* store.claim({ workerId: "w", leaseMs, jobNames }))).toBe(true)
          yield* store.enqueue({ jobName: "j", input: 1 })
          yield* claimOrFail(store)
          expect(Option.isNone(yield* store.claim({ workerId: "w2", leaseMs, jobNames }))).toBe(true)
        }))

      test("an expired lease is reclaimed with the next generation and attempt", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const first = yield* claimOrFail(store, "w1")
          yield* TestClock.adjust(leaseMs - 1)
          expect(Option.isNone(yield* store.claim({ workerId: "w2", leaseMs, jobNames }))).toBe(true)
          yield* TestClock.adjust(1)
          const second = yield* claimOrFail(store, "w2")
          expect(second.id).toBe(first.id)
          expect(second.leaseGeneration).toBe(2)
          expect(second.attempt).toBe(2)
          expect(second.leaseOwner).toBe("w2")
          expect(second.startedAt).toEqual(first.startedAt)
        }))

      test("a busy concurrency key is skipped for an unrelated run, across job names", (store) =>
        Effect.gen(function* () {
          const a1 = (yield* store.enqueue({ jobName: "a", input: 1, concurrencyKey: "db" })).run
          const b1 = (yield* store.enqueue({ jobName: "b", input: 1, concurrencyKey: "db" })).run
          const free = (yield* store.enqueue({ jobName: "c", input: 1 })).run
          expect((yield* claimOrFail(store)).id).toBe(a1.id)
          expect((yield* claimOrFail(store)).id).toBe(free.id)
          expect(Option.isNone(yield* store.claim({ workerId: "w", leaseMs, jobNames }))).toBe(true)
          const lease = leaseOf(yield* store.getRun(a1.id))
          yield* store.complete(lease, null, keep)
          expect((yield* claimOrFail(store)).id).toBe(b1.id)
        }))

      test("runs sharing a key are claimed in trigger order", (store) =>
        Effect.gen(function* () {
          const ids: Array<string> = []
          for (let i = 0; i < 4; i++) ids.push((yield* store.enqueue({ jobName: "j", input: i, concurrencyKey: "k" })).run.id)
          const order: Array<string> = []
          for (let i = 0; i < 4; i++) {
            const run = yield* claimOrFail(store)
            order.push(run.id)
            yield* store.complete(leaseOf(run), i, keep)
          }
          expect(order).toEqual(ids)
        }))

      test("a key whose holder's lease expired is claimable again", (store) =>
        Effect.gen(function* () {
          const a = (yield* store.enqueue({ jobName: "j", input: 1, concurrencyKey: "k" })).run
          yield* store.enqueue({ jobName: "j", input: 2, concurrencyKey: "k" })
          yield* claimOrFail(store)
          yield* TestClock.adjust(leaseMs)
          const reclaimed = yield* claimOrFail(store, "w2")
          expect(reclaimed.id).toBe(a.id)
          expect(Option.isNone(yield* store.claim({ workerId: "w3", leaseMs, jobNames }))).toBe(true)
        }))
    })

    describe("claim by job", () => {
      test("a claim takes only runs of the jobs it is given", (store) =>
        Effect.gen(function* () {
          const b = (yield* store.enqueue({ jobName: "b", input: 1 })).run
          const a = (yield* store.enqueue({ jobName: "a", input: 2 })).run
          const onlyA = { workerId: "w", leaseMs, jobNames: ["a"] }
          expect(Option.map(yield* store.claim(onlyA), (run) => run.id)).toEqual(Option.some(a.id))
          expect(Option.isNone(yield* store.claim(onlyA))).toBe(true)
          expect((yield* store.getRun(b.id)).status).toBe("pending")
          const onlyB = { workerId: "w", leaseMs, jobNames: ["b", "missing"] }
          expect(Option.map(yield* store.claim(onlyB), (run) => run.id)).toEqual(Option.some(b.id))
        }))

      test("an empty job list claims nothing", (store) =>
        Effect.gen(function* () {
          const run = (yield* store.enqueue({ jobName: "j", input: 1 })).run
          expect(Option.isNone(yield* store.claim({ workerId: "w", leaseMs, jobNames: [] }))).toBe(true)
          expect((yield* store.getRun(run.id)).status).toBe("pending")
        }))

      test("an older unfinished run of another job still holds the concurrency key", (store) =>
        Effect.gen(function* () {
          const b = (yield* store.enqueue({ jobName: "b", input: 1, concurrencyKey: "k" })).run
          const a = (yield* store.enqueue({ jobName: "a", input: 2, concurrencyKey: "k" })).run
          const onlyA = { workerId: "w", leaseMs, jobNames: ["a"] }
          expect(Option.isNone(yield* store.claim(onlyA))).toBe(true)
          const held = yield* store.claim({ workerId: "w", leaseMs, jobNames: ["b"] })
          expect(Option.map(held, (run) => run.id)).toEqual(Option.some(b.id))
          expect(Option.isNone(yield* store.claim(onlyA))).toBe(true)
          yield* store.complete(leaseOf(Option.getOrThrow(held)), null, keep)
          expect(Option.map(yield* store.claim(onlyA), (run) => run.id)).toEqual(Option.some(a.id))
        }))
    })

    describeSql("enqueue inside the caller's transaction", () => {
      /** Whether the run exists, asked outside the transaction (waits for it to end on SQLite). */
      const outside = <A, E>(effect: Effect.Effect<A, E, Env>) =>
        Effect.mapInputContext(effect, (context: Context.Context<Env>) => Context.omit(SqlClient.TransactionConnection)(context))

      const committedOf = (enqueued: Enqueued) =>
        enqueued.committed === undefined ? Effect.dieMessage("expected committed: the enqueue joined a transaction") : enqueued.committed

      sqlTest("a rolled-back enqueue leaves no run, and committed answers false", (store) =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const enqueued: Array<Enqueued> = []
          const rolledBack = yield* Effect.exit(
            sql.withTransaction(
              Effect.gen(function* () {
                enqueued.push(yield* store.enqueue({ jobName: "j", input: 1 }))
                enqueued.push(yield* store.enqueue({ jobName: "j", input: 2, labels: { team: "x" } }))
                enqueued.push(yield* store.enqueue({ jobName: "j", input: 3, idempotencyKey: "k" }))
                enqueued.push(yield* store.enqueue({ jobName: "j", input: 4, concurrencyKey: "c", coalesce: "skip" }))
                return yield* Effect.fail("roll back")
              })
            )
          )
          expect(Exit.isFailure(rolledBack)).toBe(true)
          expect(enqueued).toHaveLength(4)
          for (const each of enqueued) {
            expect(yield* committedOf(each)).toBe(false)
            expect(yield* errorTag(store.getRun(each.run.id))).toBe("NotFoundError")
          }
          expect(yield* store.getRuns()).toEqual([])
          const labels = yield* sql<{ n: number | string }>`SELECT count(*) AS n FROM durably_run_labels`
          expect(Number(labels[0]?.n)).toBe(0)
          // The idempotency key is free again.
          expect((yield* store.enqueue({ jobName: "j", input: 5, idempotencyKey: "k" })).disposition).toBe("created")
        }))

      sqlTest("a committed enqueue answers true and its run is there; outside a transaction there is no committed", (store) =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const [plain, labelled] = yield* sql.withTransaction(
            Effect.all([
              store.enqueue({ jobName: "j", input: 1 }),
              store.enqueue({ jobName: "j", input: 2, labels: { team: "x" }, concurrencyKey: "c", coalesce: "skip" })
            ])
          )
          expect(yield* committedOf(plain)).toBe(true)
          expect(yield* committedOf(labelled)).toBe(true)
          expect((yield* store.getRun(plain.run.id)).status).toBe("pending")
          expect((yield* store.getRun(labelled.run.id)).labels).toEqual({ team: "x" })
          expect((yield* store.enqueue({ jobName: "j", input: 3 })).committed).toBeUndefined()
          expect((yield* store.enqueueBatch([{ jobName: "j", input: 4 }]))[0]?.committed).toBeUndefined()
        }))

      sqlTest("committed answers only once the transaction has ended, and the run is not seen outside before", (store) =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
          const answer = yield* sql.withTransaction(
            Effect.gen(function* () {
              const enqueued = yield* store.enqueue({ jobName: "j", input: 1 })
              const answer = yield* Effect.fork(committedOf(enqueued))
              const seen = yield* Effect.fork(outside(Effect.either(store.getRun(enqueued.run.id))))
              if (isPg) {
                // Another pooled connection: the uncommitted run is not there.
                const read = yield* Fiber.join(seen)
                expect(Either.isLeft(read) && read.left._tag).toBe("NotFoundError")
              }
              yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
              expect(answer.unsafePoll()).toBeNull()
              // SQLite's one connection is the transaction's until it ends.
              if (!isPg) expect(seen.unsafePoll()).toBeNull()
              return { answer, seen, id: enqueued.run.id }
            })
          )
          expect(yield* Fiber.join(answer.answer)).toBe(true)
          if (!isPg) expect(Either.isRight(yield* Fiber.join(answer.seen))).toBe(true)
          expect((yield* store.getRun(answer.id)).status).toBe("pending")
        }))

      sqlTest("enqueueBatch joins the caller's transaction", (store) =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const batches = [
            [{ jobName: "j", input: 1 }, { jobName: "j", input: 2 }],
            [{ jobName: "j", input: 3, labels: { a: "b" } }, { jobName: "j", input: 4, idempotencyKey: "x" }]
          ]
          for (const batch of batches) {
            const enqueued: Array<Enqueued> = []
            const rolledBack = yield* Effect.exit(
              sql.withTransaction(
                Effect.flatMap(store.enqueueBatch(batch), (results) => {
                  enqueued.push(...results)
                  return Effect.fail("roll back")
                })
              )
            )
            expect(Exit.isFailure(rolledBack)).toBe(true)
            expect(enqueued).toHaveLength(2)
            for (const each of enqueued) expect(yield* committedOf(each)).toBe(false)
            expect(yield* store.getRuns()).toEqual([])
            const kept = yield* sql.withTransaction(store.enqueueBatch(batch))
            for (const each of kept) expect(yield* committedOf(each)).toBe(true)
            expect(yield* store.getRuns()).toHaveLength(2)
            for (const each of kept) yield* store.deleteRun(each.run.id)
          }
        }))
    })

    describe("fenced writes", () => {
      test("renew extends a live lease from now, and fails once it expired", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* TestClock.adjust(10_000)
          expect(yield* store.renew(leaseOf(run), leaseMs)).toBe(10_000 + leaseMs)
          expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(10_000 + leaseMs)
          yield* TestClock.adjust(leaseMs)
          expect(yield* errorTag(store.renew(leaseOf(run), leaseMs))).toBe("LeaseLostError")
        }))

      test("a step write stores the step and extends the lease", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* TestClock.adjust(20_000)
          yield* store.persistStep(leaseOf(run), step("fetch", 0, { users: [1, 2] }))
          expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(20_000 + leaseMs)
          const steps = yield* store.getSteps(run.id)
          expect(steps).toHaveLength(1)
          expect(steps[0]).toMatchObject({ name: "fetch", index: 0, status: "completed", output: { users: [1, 2] } })
          expect(steps[0]?.completedAt.getTime()).toBe(20_000)
        }))

      test("a second completed step with the same name is refused", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("a", 0))
          expect(yield* errorTag(store.persistStep(leaseOf(run), step("a", 1)))).toBe("StoreError")
          expect(yield* store.getSteps(run.id)).toHaveLength(1)
        }))

      test("steps come back in execution order, failed attempts included", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          const lease = leaseOf(run)
          yield* store.persistStep(lease, step("one", 0))
          yield* store.persistStep(lease, { ...step("two", 1), status: "failed", output: undefined, error: "boom" })
          yield* store.persistStep(lease, step("two", 1))
          const steps = yield* store.getSteps(run.id)
          expect(steps.map((s) => [s.name, s.index, s.status, s.error])).toEqual([
            ["one", 0, "completed", null],
            ["two", 1, "failed", "boom"],
            ["two", 1, "completed", null]
          ])
        }))

      test("a step's failures in successive attempts are all kept, and it completes once per run", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const failure = (error: string) => ({ ...step("x", 0), status: "failed" as const, output: undefined, error })
          const first = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(first), failure("first"))
          yield* store.release(leaseOf(first))
          const second = yield* claimOrFail(store)
          expect(second.attempt).toBe(2)
          yield* store.persistStep(leaseOf(second), failure("second"))
          yield* store.persistStep(leaseOf(second), step("x", 0))
          yield* store.release(leaseOf(second))
          const third = yield* claimOrFail(store)
          expect(yield* errorTag(store.persistStep(leaseOf(third), step("x", 0)))).toBe("StoreError")
          const steps = yield* store.getSteps(first.id)
          expect(steps.map((s) => [s.name, s.status, s.error])).toEqual([
            ["x", "failed", "first"],
            ["x", "failed", "second"],
            ["x", "completed", null]
          ])
        }))

      test("progress and logs are recorded for the lease holder", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.progress(leaseOf(run), { current: 1, total: 3, message: "fetched" })
          yield* store.log(leaseOf(run), { stepName: "fetch", level: "info", message: "hello", data: { n: 1 } })
          yield* store.log(leaseOf(run), { stepName: null, level: "warn", message: "second" })
          expect((yield* store.getRun(run.id)).progress).toEqual({ current: 1, total: 3, message: "fetched" })
          const logs = yield* store.getLogs(run.id)
          expect(logs.map((l) => [l.stepName, l.level, l.message, l.data])).toEqual([
            ["fetch", "info", "hello", { n: 1 }],
            [null, "warn", "second", null]
          ])
        }))

      test("after a reclaim every write of the old generation is refused and changes nothing", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const stale = yield* claimOrFail(store, "old")
          yield* store.persistStep(leaseOf(stale), step("one", 0))
          yield* TestClock.adjust(leaseMs)
          const fresh = yield* claimOrFail(store, "new")
          expect(fresh.leaseGeneration).toBe(stale.leaseGeneration + 1)
          const before = yield* store.getRun(fresh.id)
          const old = leaseOf(stale)
          const attempts = [
            errorTag(store.renew(old, leaseMs)),
            errorTag(store.persistStep(old, step("two", 1))),
            errorTag(store.progress(old, { current: 9 })),
            errorTag(store.log(old, { stepName: null, level: "info", message: "stale" })),
            errorTag(store.complete(old, "stale", cleanup)),
            errorTag(store.fail(old, "stale", cleanup))
          ]
          for (const attempt of attempts) expect(yield* attempt).toBe("LeaseLostError")
          expect(yield* store.getRun(fresh.id)).toEqual(before)
          expect((yield* store.getSteps(fresh.id)).map((s) => s.name)).toEqual(["one"])
          expect(yield* store.getLogs(fresh.id)).toEqual([])
          // The new holder is unaffected.
          yield* store.persistStep(leaseOf(fresh), step("two", 1))
          yield* store.complete(leaseOf(fresh), "done", keep)
          expect((yield* store.getRun(fresh.id)).status).toBe("completed")
        }))

      test("an expired lease cannot complete or fail even before anyone reclaims it", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* TestClock.adjust(leaseMs)
          expect(yield* errorTag(store.complete(leaseOf(run), 1, keep))).toBe("LeaseLostError")
          expect(yield* errorTag(store.fail(leaseOf(run), "x", keep))).toBe("LeaseLostError")
          expect((yield* store.getRun(run.id)).status).toBe("leased")
        }))
    })

    describe("terminal writes", () => {
      test("complete stores the output, clears the lease and deletes steps when asked", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("one", 0))
          yield* TestClock.adjust(500)
          yield* store.complete(leaseOf(run), { synced: 3 }, cleanup)
          const done = yield* store.getRun(run.id)
          expect(done.status).toBe("completed")
          expect(done.output).toEqual({ synced: 3 })
          expect(done.completedAt?.getTime()).toBe(500)
          expect(done.leaseOwner).toBeNull()
          expect(done.leaseExpiresAt).toBeNull()
          expect(yield* store.getSteps(run.id)).toEqual([])
        }))

      test("complete keeps steps when preserving them", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("one", 0))
          yield* store.complete(leaseOf(run), null, keep)
          expect(yield* store.getSteps(run.id)).toHaveLength(1)
        }))

      test("fail stores the error", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.fail(leaseOf(run), "boom", cleanup)
          const failed = yield* store.getRun(run.id)
          expect(failed.status).toBe("failed")
          expect(failed.error).toBe("boom")
          expect(failed.output).toBeNull()
        }))

      test("a lost lease never deletes steps", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("one", 0))
          yield* TestClock.adjust(leaseMs)
          yield* errorTag(store.complete(leaseOf(run), null, cleanup))
          expect(yield* store.getSteps(run.id)).toHaveLength(1)
        }))

      test("release gives the run back at once, keeping its steps", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("one", 0))
          yield* store.release(leaseOf(run))
          const again = yield* claimOrFail(store, "w2")
          expect(again.id).toBe(run.id)
          expect(again.leaseGeneration).toBe(2)
          expect(yield* store.getSteps(run.id)).toHaveLength(1)
        }))
    })

    describe("cancel, retry, delete, purge", () => {
      test("cancel moves a pending or leased run to cancelled and fences its holder", (store) =>
        Effect.gen(function* () {
          const pending = (yield* store.enqueue({ jobName: "j", input: 1 })).run
          const leased = (yield* store.enqueue({ jobName: "j", input: 2 })).run
          yield* store.cancel(pending.id, keep)
          const held = yield* claimOrFail(store)
          expect(held.id).toBe(leased.id)
          yield* store.persistStep(leaseOf(held), step("one", 0))
          const cancelled = yield* store.cancel(leased.id, cleanup)
          expect(cancelled.status).toBe("cancelled")
          expect(yield* store.getSteps(leased.id)).toEqual([])
          expect(yield* errorTag(store.persistStep(leaseOf(held), step("two", 1)))).toBe("LeaseLostError")
          expect(yield* errorTag(store.complete(leaseOf(held), 1, keep))).toBe("LeaseLostError")
          expect((yield* store.getRun(leased.id)).status).toBe("cancelled")
          expect(Option.isNone(yield* store.claim({ workerId: "w", leaseMs, jobNames }))).toBe(true)
        }))

      test("cancelling a terminal run is a ConflictError and changes nothing", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.complete(leaseOf(run), "out", keep)
          const result = yield* Effect.either(store.cancel(run.id, keep))
          expect(Either.isLeft(result) && result.left).toMatchObject({
            _tag: "ConflictError",
            runId: run.id,
            status: "completed"
          })
          expect((yield* store.getRun(run.id)).status).toBe("completed")
          expect(yield* errorTag(store.cancel("missing", keep))).toBe("NotFoundError")
        }))

      test("retry puts a failed run back to pending with the same id and attempt count", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          const run = yield* claimOrFail(store)
          yield* store.fail(leaseOf(run), "boom", keep)
          const retried = yield* store.retry(run.id)
          expect(retried).toMatchObject({ id: run.id, status: "pending", error: null, attempt: 1 })
          const again = yield* claimOrFail(store)
          expect(again.id).toBe(run.id)
          expect(again.attempt).toBe(2)
          expect(yield* errorTag(store.retry(run.id))).toBe("ConflictError")
          expect(yield* errorTag(store.retry("missing"))).toBe("NotFoundError")
        }))

      sqlTest("delete removes a run with its steps, logs and labels, but not a leased one", (store) =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* store.enqueue({ jobName: "j", input: 1, labels: { a: "b" } })
          const run = yield* claimOrFail(store)
          yield* store.persistStep(leaseOf(run), step("one", 0))
          yield* store.log(leaseOf(run), { stepName: null, level: "info", message: "m" })
          expect(yield* errorTag(store.deleteRun(run.id))).toBe("ConflictError")
          yield* store.complete(leaseOf(run), null, keep)
          yield* store.deleteRun(run.id)
          expect(yield* errorTag(store.getRun(run.id))).toBe("NotFoundError")
          for (const table of ["durably_steps", "durably_logs", "durably_run_labels"]) {
            const rows = yield* sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql(table)}`
            expect(Number(rows[0]?.n)).toBe(0)
          }
          expect(yield* errorTag(store.deleteRun(run.id))).toBe("NotFoundError")
        }))

      test("purge deletes terminal runs older than the cutoff, up to the limit", (store) =>
        Effect.gen(function* () {
          const finish = Effect.gen(function* () {
            yield* store.enqueue({ jobName: "j", input: 1 })
            const run = yield* claimOrFail(store)
            yield* store.complete(leaseOf(run), null, keep)
            return run
          })
          const old1 = yield* finish
          yield* TestClock.adjust(10)
          const old2 = yield* finish
          yield* TestClock.adjust(10)
          const recent = yield* finish
          const pending = (yield* store.enqueue({ jobName: "j", input: 1 })).run
          expect(yield* store.purge({ olderThan: 15, limit: 1 })).toBe(1)
          expect(yield* errorTag(store.getRun(old1.id))).toBe("NotFoundError")
          expect(yield* store.purge({ olderThan: 15 })).toBe(1)
          expect(yield* errorTag(store.getRun(old2.id))).toBe("NotFoundError")
          expect((yield* store.getRun(recent.id)).status).toBe("completed")
          expect((yield* store.getRun(pending.id)).status).toBe("pending")
        }))

      test("releaseExpired returns abandoned runs to pending", (store) =>
        Effect.gen(function* () {
          yield* store.enqueue({ jobName: "j", input: 1 })
          yield* store.enqueue({ jobName: "j", input: 2 })
          const run = yield* claimOrFail(store)
          yield* claimOrFail(store)
          yield* store.renew(leaseOf(run), leaseMs * 2)
          yield* TestClock.adjust(leaseMs)
          expect(yield* store.releaseExpired).toBe(1)
          expect((yield* store.getRun(run.id)).status).toBe("leased")
          expect((yield* store.getRuns({ status: "pending" })).length).toBe(1)
        }))
    })

    describeSql("bad data", () => {
      const corrupt = (column: "input" | "status", value: string) =>
        Effect.gen(function* () {
          const store = yield* Store
          const sql = yield* SqlClient.SqlClient
          const bad = (yield* store.enqueue({ jobName: "j", input: { ok: true } })).run
          const good = (yield* store.enqueue({ jobName: "j", input: { ok: true } })).run
          yield* sql`UPDATE durably_runs SET ${sql(column)} = ${value} WHERE id = ${bad.id}`
          return { bad, good }
        })

      sqlTest("an input column that is not JSON is a CorruptRowError naming the run", (store) =>
        Effect.gen(function* () {
          const { bad, good } = yield* corrupt("input", "{not json")
          const result = yield* Effect.either(store.getRun(bad.id))
          expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CorruptRowError", runId: bad.id })
          expect((yield* store.getRun(good.id)).input).toEqual({ ok: true })
        }))

      sqlTest("a corrupt run is failed at claim time and the next run is still claimable", (store) =>
        Effect.gen(function* () {
          const { bad, good } = yield* corrupt("input", "{not json")
          const first = yield* Effect.either(store.claim({ workerId: "w", leaseMs, jobNames }))
          expect(Either.isLeft(first) && first.left).toMatchObject({ _tag: "CorruptRowError", runId: bad.id })
          expect((yield* claimOrFail(store)).id).toBe(good.id)
          expect(Option.isNone(yield* store.claim({ workerId: "w", leaseMs, jobNames }))).toBe(true)
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ status: string; error: string }>`SELECT status, error FROM durably_runs WHERE id = ${bad.id}`
          expect(rows[0]?.status).toBe("failed")
          expect(rows[0]?.error).toContain(bad.id)
        }))

      sqlTest("an unknown status is a CorruptRowError, and the run does not block the queue", (store) =>
        Effect.gen(function* () {
          const { bad, good } = yield* corrupt("status", "exploded")
          expect(yield* errorTag(store.getRun(bad.id))).toBe("CorruptRowError")
          expect((yield* claimOrFail(store)).id).toBe(good.id)
          yield* store.deleteRun(bad.id)
          expect(yield* errorTag(store.getRun(bad.id))).toBe("NotFoundError")
        }))
    })
  })
}
