// A run's terminal write (complete / fail) when the store fails: retried while
// the lease is valid, and when it still cannot be made, the step results not
// stored yet are stored first, so the worker that resumes the run does not
// run those steps again.
import { Durably, DurablyError, EventBus, Job, Step, Worker } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Queue, Ref, Schema, TestClock } from "effect"
import { join } from "node:path"
import { tempDir } from "../support/sqlite.js"

/** A store whose first `failures` complete and fail writes fail with a `StoreError`; `attempts` counts them all. */
const failingTerminal = (failures: Ref.Ref<number>, attempts: Ref.Ref<number>) =>
  Layer.effect(
    Store,
    Effect.map(Store, (store) => {
      const failing = <A>(operation: string, write: Effect.Effect<A, DurablyError.StoreError | DurablyError.LeaseLostError>) =>
        Effect.zipRight(
          Ref.update(attempts, (n) => n + 1),
          Effect.flatMap(
            Ref.modify(failures, (left) => [left > 0, Math.max(0, left - 1)] as const),
            (fail) =>
              fail ? Effect.fail(new DurablyError.StoreError({ operation, cause: new Error("connection reset") })) : write
          )
        )
      return Store.of({
        ...store,
        complete: (lease, output, options) => failing("complete", store.complete(lease, output, options)),
        fail: (lease, error, options) => failing("fail", store.fail(lease, error, options))
      })
    })
  )

const leaseMs = 10_000

const counting = () => {
  const counts = new Map<string, number>()
  const ran = (name: string) => Effect.sync(() => counts.set(name, (counts.get(name) ?? 0) + 1))
  return { counts, ran }
}

const setup = Effect.gen(function* () {
  const dir = yield* tempDir
  const shared = yield* Layer.build(Layer.merge(NodeStore.sqlite({ filename: join(dir, "db.sqlite") }), EventBus.layer))
  const engine = (jobs: ReadonlyArray<Job.Standalone>, workerId: string, store: Layer.Layer<Store, never, Store>) =>
    Layer.build(
      Durably.layer({ jobs, workerId, leaseDuration: leaseMs, leaseRenewInterval: 2_000, autoStart: false }).pipe(
        Layer.provide(store),
        Layer.provide(Layer.succeedContext(shared))
      )
    )
  const failures = yield* Ref.make(0)
  const attempts = yield* Ref.make(0)
  return { shared, engine, failures, attempts, store: Context.get(shared, Store), bus: Context.get(shared, EventBus.EventBus) }
})

describe("terminal writes against a failing store", () => {
  it.scoped("a few failed completion writes are retried: the run completes and no step runs twice", () =>
    Effect.gen(function* () {
      const { attempts, bus, engine, failures, store } = yield* setup
      const { counts, ran } = counting()
      const job = Job.make({
        name: "two-steps",
        input: Schema.Number,
        run: (n) =>
          Effect.gen(function* () {
            const a = yield* Step.run("a", Effect.as(ran("a"), n + 1))
            return yield* Step.run("b", Effect.as(ran("b"), a * 2))
          })
      })
      const a = yield* engine([job], "A", failingTerminal(failures, attempts))
      const events = yield* bus.subscribeWhere((event) => event.type === "run:complete" || event.type === "worker:error")
      yield* Ref.set(failures, 3)
      const { run } = yield* Context.get(a, Durably.Durably).trigger(job, 1)
      const worker = yield* Effect.fork(Context.get(a, Worker.Worker).processOne)
      // The retries wait 50, 100 and 200 ms.
      yield* TestClock.adjust(1_000)
      expect(yield* Fiber.join(worker)).toBe(true)
      expect(yield* store.getRun(run.id)).toMatchObject({ status: "completed", output: 4 })
      expect(yield* Ref.get(attempts)).toBe(4)
      expect(Object.fromEntries(counts)).toEqual({ a: 1, b: 1 })
      const seen = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).map((event: DurablyEvent) => event.type)
      expect(seen).toEqual(["run:complete"])
    }))

  it.scoped("a few failed failure writes are retried: the run ends failed", () =>
    Effect.gen(function* () {
      const { attempts, engine, failures, store } = yield* setup
      const job = Job.make({
        name: "fails-after-a-step",
        input: Schema.Number,
        run: (n) =>
          Effect.flatMap(Step.run("a", Effect.succeed(n)), (a) =>
            a > 0 ? Effect.fail(new Error("out of stock")) : Effect.succeed(a)
          )
      })
      const a = yield* engine([job], "A", failingTerminal(failures, attempts))
      yield* Ref.set(failures, 2)
      const { run } = yield* Context.get(a, Durably.Durably).trigger(job, 1)
      const worker = yield* Effect.fork(Context.get(a, Worker.Worker).processOne)
      yield* TestClock.adjust(1_000)
      expect(yield* Fiber.join(worker)).toBe(true)
      expect(yield* store.getRun(run.id)).toMatchObject({ status: "failed", error: "out of stock" })
      expect(yield* Ref.get(attempts)).toBe(3)
    }))

  it.scoped("when completion cannot be written while the lease lasts, the waiting step results are stored and the run resumes elsewhere without re-running them", () =>
    Effect.gen(function* () {
      const { attempts, engine, failures, store } = yield* setup
      const { counts, ran } = counting()
      const job = Job.make({
        name: "three-steps",
        input: Schema.Number,
        run: (n) =>
          Effect.gen(function* () {
            const a = yield* Step.run("a", Effect.as(ran("a"), n + 1))
            const b = yield* Step.run("b", Effect.as(ran("b"), a * 2))
            return yield* Step.run("c", Effect.as(ran("c"), b + 1))
          })
      })
      const a = yield* engine([job], "A", failingTerminal(failures, attempts))
      const b = yield* engine([job], "B", Layer.effect(Store, Store))
      yield* Ref.set(failures, Number.MAX_SAFE_INTEGER)
      const { run } = yield* Context.get(a, Durably.Durably).trigger(job, 1)
      const workerA = yield* Effect.fork(Context.get(a, Worker.Worker).processOne)
      // A retries until its lease is about to expire, then gives up.
      yield* TestClock.adjust(leaseMs)
      expect(yield* Fiber.join(workerA)).toBe(true)
      expect(yield* Ref.get(attempts)).toBeGreaterThan(5)
      const abandoned = yield* store.getRun(run.id)
      expect(abandoned).toMatchObject({ status: "leased", leaseOwner: "A" })
      // Every step result is stored, the last ones included (the terminal write would have made them unneeded).
      expect((yield* store.getSteps(run.id)).map((step) => [step.name, step.output])).toEqual([
        ["a", 2],
        ["b", 4],
        ["c", 5]
      ])

      // B cannot take the run before A's lease expired; then it finishes it from the stored results.
      const workerB = Context.get(b, Worker.Worker)
      expect(yield* workerB.processOne).toBe(false)
      yield* TestClock.adjust(2 * leaseMs)
      expect(yield* workerB.processOne).toBe(true)
      expect(yield* store.getRun(run.id)).toMatchObject({ status: "completed", output: 5, attempt: 2 })
      expect(Object.fromEntries(counts)).toEqual({ a: 1, b: 1, c: 1 })
    }))
})
