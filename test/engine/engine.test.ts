import { Durably, DurablyError, EventBus, Job, Step, Worker } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import type { UnsafeTrigger } from "@durably/core/Internal"
import { unsafeTriggerOf } from "@durably/core/Internal"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { DurablyNode } from "@durably/node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Context, Deferred, Duration, Effect, Either, Exit, Fiber, Layer, Option, Queue, Ref, Schema, Scope, Stream, TestClock } from "effect"
import { join } from "node:path"
import { tempDir } from "../support/sqlite.js"

/** The next `n` events, one at a time (a stream over the queue would pull ahead and drop some). */
const takeN = (events: Queue.Dequeue<DurablyEvent>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Queue.take(events))

const takeUntil = (events: Queue.Dequeue<DurablyEvent>, done: (event: DurablyEvent) => boolean): Effect.Effect<void> =>
  Effect.flatMap(Queue.take(events), (event) => (done(event) ? Effect.void : takeUntil(events, done)))

const leaseMs = 10_000
const leaseRenewIntervalMs = 2_000

/** A store whose renewals fail while `partitioned` is set: a worker cut off from the database. */
const partitionable = (partitioned: Ref.Ref<boolean>) =>
  Layer.effect(
    Store,
    Effect.map(Store, (store) =>
      Store.of({
        ...store,
        renew: (lease, ms) =>
          Effect.flatMap(Ref.get(partitioned), (cut) =>
            cut
              ? Effect.fail(new DurablyError.StoreError({ operation: "renew", cause: new Error("partitioned") }))
              : store.renew(lease, ms)
          )
      })
    )
  )

describe("lease renewal and expiry (TestClock)", () => {
  it.scoped("a worker that cannot renew loses the run, and another resumes it at the next step", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const counts = new Map<string, number>()
      const ran = (name: string) => Effect.sync(() => counts.set(name, (counts.get(name) ?? 0) + 1))
      const secondStepStarted = yield* Deferred.make<void>()
      const job = Job.make({
        name: "three-steps",
        input: Schema.Struct({ n: Schema.Number }),
        run: ({ n }) =>
          Effect.gen(function* () {
            const a = yield* Step.run("one", Effect.as(ran("one"), n + 1))
            const b = yield* Step.run(
              "two",
              Effect.gen(function* () {
                yield* ran("two")
                // The first execution stops here for good; the resumed one goes through.
                if (counts.get("two") === 1) {
                  yield* Deferred.succeed(secondStepStarted, undefined)
                  return yield* Effect.never
                }
                return a * 2
              })
            )
            return yield* Step.run("three", Effect.as(ran("three"), b + 1))
          })
      })
      const base = Layer.merge(NodeStore.sqlite({ filename: join(dir, "db.sqlite") }), EventBus.layer)
      const shared = yield* Layer.build(base)
      const partitioned = yield* Ref.make(false)
      const engine = (workerId: string, store: Layer.Layer<Store, never, Store>) =>
        Layer.build(
          Durably.layer({ jobs: [job], workerId, leaseDuration: leaseMs, leaseRenewInterval: leaseRenewIntervalMs, autoStart: false }).pipe(
            Layer.provide(store),
            Layer.provide(Layer.succeedContext(shared))
          )
        )
      const a = yield* engine("A", partitionable(partitioned))
      const b = yield* engine("B", Layer.effect(Store, Store))
      const durablyA = Context.get(a, Durably.Durably)
      const store = Context.get(shared, Store)

      const { run } = yield* durablyA.trigger(job, { n: 1 })
      const workerA = yield* Effect.fork(Context.get(a, Worker.Worker).processOne)
      yield* Deferred.await(secondStepStarted)

      // Renewal extends the lease from the time it ran.
      yield* TestClock.adjust(leaseRenewIntervalMs)
      expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(leaseRenewIntervalMs + leaseMs)

      // Cut A off: its renewals fail until the expiry it last wrote, then it gives the run up.
      yield* Ref.set(partitioned, true)
      yield* TestClock.adjust(leaseMs)
      expect(yield* Fiber.join(workerA)).toBe(true)
      const abandoned = yield* store.getRun(run.id)
      expect(abandoned.status).toBe("leased")
      expect(abandoned.leaseOwner).toBe("A")

      // B claims the expired lease and resumes at step two.
      expect(yield* Context.get(b, Worker.Worker).processOne).toBe(true)
      const done = yield* store.getRun(run.id)
      expect(done).toMatchObject({ status: "completed", output: 5, leaseGeneration: 2, attempt: 2 })
      expect(Object.fromEntries(counts)).toEqual({ one: 1, two: 2, three: 1 })
    }))

  it.scoped("a stale worker's step write is refused and its job stops, writing nothing more", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const afterWrite = yield* Ref.make(0)
      const job = Job.make({
        name: "slow",
        input: Schema.Number,
        run: () =>
          Effect.gen(function* () {
            yield* Step.run(
              "wait",
              Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
            )
            yield* Ref.update(afterWrite, (n) => n + 1)
            yield* Step.run("after", Effect.succeed(1))
          })
      })
      const layer = Layer.merge(NodeStore.sqlite({ filename: join(dir, "db.sqlite") }), EventBus.layer)
      const shared = yield* Layer.build(layer)
      const partitioned = yield* Ref.make(true)
      const a = yield* Layer.build(
        Durably.layer({ jobs: [job], workerId: "A", leaseDuration: leaseMs, leaseRenewInterval: leaseMs - 1, autoStart: false }).pipe(
          Layer.provide(partitionable(partitioned)),
          Layer.provide(Layer.succeedContext(shared))
        )
      )
      const store = Context.get(shared, Store)
      const { run } = yield* Context.get(a, Durably.Durably).trigger(job, 1)
      const workerA = yield* Effect.fork(Context.get(a, Worker.Worker).processOne)
      yield* Deferred.await(started)
      // Another worker takes the run over once A's lease expired (A has not noticed yet).
      yield* TestClock.adjust(leaseMs - 2)
      yield* TestClock.adjust(2)
      const stolen = yield* store.claim({ workerId: "B", leaseMs, jobNames: ["slow"] })
      expect(stolen._tag).toBe("Some")
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(workerA)).toBe(true)
      expect(yield* Ref.get(afterWrite)).toBe(0)
      expect(yield* store.getSteps(run.id)).toEqual([])
      expect((yield* store.getRun(run.id)).leaseOwner).toBe("B")
    }))
})

describe("when the renewal fiber is forked", () => {
  it.scoped("a run claimed between the engine's ticks is still renewed one interval after its claim", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const job = Job.make({
        name: "long-step",
        input: Schema.Null,
        run: () => Step.run("long", Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
      })
      const context = yield* Layer.build(
        DurablyNode.sqlite({
          filename: join(dir, "db.sqlite"),
          jobs: [job],
          leaseDuration: leaseMs,
          leaseRenewInterval: leaseRenewIntervalMs,
          autoStart: false
        })
      )
      const durably = Context.get(context, Durably.Durably)
      const store = Context.get(context, Store)
      // The ticker runs every half interval (1,000 ms); claim the run between two ticks.
      yield* TestClock.adjust(1_500)
      const { run } = yield* durably.trigger(job, null)
      const worker = yield* Effect.fork(durably.processOne)
      yield* Deferred.await(started)
      expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(1_500 + leaseMs)
      // The tick at 2,000 forks the renewal fiber; the renewal is due at 1,500 + 2,000.
      yield* TestClock.adjust(1_000)
      expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(1_500 + leaseMs)
      yield* TestClock.adjust(1_000)
      expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(1_500 + leaseRenewIntervalMs + leaseMs)
      yield* TestClock.adjust(leaseRenewIntervalMs)
      expect((yield* store.getRun(run.id)).leaseExpiresAt?.getTime()).toBe(1_500 + 2 * leaseRenewIntervalMs + leaseMs)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(worker)).toBe(true)
      expect((yield* store.getRun(run.id)).status).toBe("completed")
    })
  )
})

const engineOnFile = <J extends Job.Any>(options: Omit<Durably.Options<J>, "autoStart"> & { autoStart?: boolean }) =>
  Layer.unwrapScoped(
    Effect.map(tempDir, (dir) =>
      DurablyNode.sqlite({ filename: join(dir, "db.sqlite"), pollingInterval: "20 millis", ...options })
    )
  )

describe("the worker", () => {
  const blocking = Job.make({
    name: "blocking",
    input: Schema.Null,
    run: () =>
      Effect.gen(function* () {
        yield* Step.run("first", Effect.succeed(1))
        yield* Step.run("stuck", Effect.never)
        yield* Step.run("never", Effect.dieMessage("must not run"))
      })
  })

  it.live("cancelling a running job interrupts it, later steps never run, and it stays cancelled", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const bus = yield* EventBus.EventBus
      const events = yield* bus.subscribe
      const { run } = yield* durably.trigger(blocking, null)
      yield* takeUntil(events, (e) => e.type === "step:start" && e.stepName === "stuck")
      const cancelled = yield* durably.cancel(run.id)
      expect(cancelled.status).toBe("cancelled")
      expect(yield* (yield* Worker.Worker).running).toEqual([])
      yield* Effect.sleep(100)
      const after = yield* durably.getRun(run.id)
      expect(after.status).toBe("cancelled")
      const seen = yield* takeN(events, 2)
      expect(seen.map((e) => e.type)).toEqual(["step:cancel", "run:cancel"])
      const steps = yield* durably.getSteps(run.id)
      expect(steps.map((s) => s.name)).not.toContain("never")
      const waited = yield* Effect.either(durably.waitForRun(run.id))
      expect(Either.isLeft(waited) && waited.left._tag).toBe("CancelledError")
    }).pipe(Effect.scoped, Effect.provide(engineOnFile({ jobs: [blocking] }))))

  it.live("shutdown waits for in-flight runs, then interrupts them; one stopped mid-step keeps its steps, and its lease until it expires", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const worker = yield* Worker.Worker
      const bus = yield* EventBus.EventBus
      const events = yield* bus.subscribe
      const { run } = yield* durably.trigger(blocking, null)
      yield* takeUntil(events, (e) => e.type === "step:start" && e.stepName === "stuck")
      const startedAt = Date.now()
      yield* worker.stop
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150)
      const held = yield* durably.getRun(run.id)
      expect(held).toMatchObject({ status: "leased", leaseOwner: worker.workerId, leaseGeneration: 1 })
      expect((yield* durably.getSteps(run.id)).map((step) => step.name)).toEqual(["first"])
      // The interrupted step's body might still be running: no worker resumes the run before its lease expired.
      const store = yield* Store
      const claim = store.claim({ workerId: "next", leaseMs: 30_000, jobNames: ["blocking"] })
      expect(Option.isNone(yield* claim)).toBe(true)
      const expiresAt = held.leaseExpiresAt?.getTime() ?? 0
      yield* Effect.sleep(Math.max(0, expiresAt - Date.now()) + 20)
      const again = yield* claim
      expect(again._tag === "Some" && again.value.leaseGeneration).toBe(2)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        engineOnFile({ jobs: [blocking], shutdownTimeout: "200 millis", leaseDuration: "1 second", leaseRenewInterval: "200 millis" })
      )
    ))

  it.scopedLive("closing the layer (process shutdown) interrupts in-flight runs after the timeout, leaving a run stopped mid-step leased", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = join(dir, "db.sqlite")
      const layerScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        DurablyNode.sqlite({ filename, pollingInterval: "20 millis", jobs: [blocking], shutdownTimeout: "200 millis" }),
        layerScope
      )
      const durably = Context.get(context, Durably.Durably)
      const events = yield* Effect.provide(
        Effect.flatMap(EventBus.EventBus, (bus) => bus.subscribe),
        context
      )
      const { run } = yield* durably.trigger(blocking, null)
      yield* takeUntil(events, (e) => e.type === "step:start" && e.stepName === "stuck")
      // The layer's finalizer runs uninterruptibly; the stuck step must still be cut short.
      const closed = yield* Effect.timeoutOption(Scope.close(layerScope, Exit.void), "10 seconds")
      expect(closed._tag).toBe("Some")
      const reopened = yield* Effect.provide(
        Effect.flatMap(Store, (store) => store.getRun(run.id)),
        NodeStore.sqlite({ filename })
      )
      expect(reopened).toMatchObject({ status: "leased", leaseGeneration: 1 })
      expect(reopened.leaseOwner).not.toBeNull()
    }))

  const active = new Map<string, number>()
  let maxPerKey = 0
  let maxOverall = 0
  const keyed = Job.make({
    name: "keyed",
    input: Schema.Struct({ key: Schema.String }),
    run: ({ key }) =>
      Step.run(
        "work",
        Effect.acquireUseRelease(
          Effect.sync(() => {
            active.set(key, (active.get(key) ?? 0) + 1)
            maxPerKey = Math.max(maxPerKey, active.get(key) ?? 0)
            maxOverall = Math.max(maxOverall, [...active.values()].reduce((s, n) => s + n, 0))
          }),
          () => Effect.sleep(15),
          () => Effect.sync(() => active.set(key, (active.get(key) ?? 1) - 1))
        )
      )
  })

  it.live("with maxConcurrentRuns 4, runs sharing a concurrency key never overlap", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const keys = ["a", "b", "c", "d"]
      const items = Array.from({ length: 24 }, (_, i) => {
        const key = keys[i % keys.length] ?? "a"
        return { input: { key }, options: { concurrencyKey: key } }
      })
      const runs = yield* durably.batchTrigger(keyed, items)
      yield* Effect.forEach(runs, ({ run }) => durably.waitForRun(run.id), { concurrency: "unbounded" })
      expect(maxPerKey).toBe(1)
      expect(maxOverall).toBeGreaterThan(1)
      expect(maxOverall).toBeLessThanOrEqual(4)
    }).pipe(Effect.provide(engineOnFile({ jobs: [keyed], maxConcurrentRuns: 4 }))))

  const reusing = Job.make({
    name: "reusing",
    input: Schema.Null,
    run: () => Effect.zipRight(Step.run("same", Effect.succeed(1)), Step.run("same", Effect.succeed(2)))
  })

  it.live("reusing a step name fails the run with a DuplicateStepError", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const result = yield* Effect.either(durably.triggerAndWait(reusing, null))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "JobFailedError" })
      const run = (yield* durably.getRuns())[0]
      expect(run?.error).toContain('step name "same" used twice')
    }).pipe(Effect.provide(engineOnFile({ jobs: [reusing] }))))

  const failing = Job.make({
    name: "failing",
    input: Schema.Null,
    run: () =>
      Effect.zipRight(
        Step.run("ok", Effect.succeed(1)),
        Step.run("boom", Effect.fail(new Error("remote said no")) as Effect.Effect<number, Error>)
      )
  })

  it.live("a failing step fails the run, naming the step, with events in order", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const { run } = yield* durably.trigger(failing, null)
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(durably.subscribe(run.id)))
      const types = events.map((e: DurablyEvent) => e.type)
      expect(types).toEqual(["run:leased", "step:start", "step:complete", "step:start", "step:fail", "run:fail"])
      expect(events.at(-1)).toMatchObject({ error: "remote said no", failedStepName: "boom" })
      const result = yield* Effect.either(durably.waitForRun(run.id))
      expect(Either.isLeft(result) && result.left).toMatchObject({
        _tag: "JobFailedError",
        error: "remote said no",
        failedStepName: "boom"
      })
      // A finished run's stream replays its terminal event and ends.
      const late = Chunk.toReadonlyArray(yield* Stream.runCollect(durably.subscribe(run.id)))
      expect(late.map((e) => e.type)).toEqual(["run:fail"])
    }).pipe(Effect.provide(engineOnFile({ jobs: [failing] }))))
})

describe("subscribe", () => {
  const doubling = Job.make({
    name: "doubling",
    input: Schema.Number,
    run: (n) => Step.run("double", Effect.succeed(n * 2))
  })

  it.scoped("a run that finishes while its stream opens streams every event since the subscription", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const shared = yield* Layer.build(
        Layer.merge(NodeStore.sqlite({ filename: join(dir, "db.sqlite") }), EventBus.layer)
      )
      const reading = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // The stream's read of the run waits until the run has finished: a slow
      // round trip to the database, made as long as it takes.
      const slowReads = Layer.effect(
        Store,
        Effect.map(Store, (store) =>
          Store.of({
            ...store,
            getRun: (runId) =>
              Effect.zipRight(
                Effect.zipRight(Deferred.succeed(reading, undefined), Deferred.await(release)),
                store.getRun(runId)
              )
          })
        )
      )
      const engine = yield* Layer.build(
        Durably.layer({ jobs: [doubling], autoStart: false }).pipe(
          Layer.provide(slowReads),
          Layer.provide(Layer.succeedContext(shared))
        )
      )
      const durably = Context.get(engine, Durably.Durably)
      const { run } = yield* durably.trigger(doubling, 2)
      const stream = yield* Effect.fork(Stream.runCollect(durably.subscribe(run.id)))
      yield* Deferred.await(reading)
      expect(yield* durably.processOne).toBe(true)
      yield* Deferred.succeed(release, undefined)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(stream))
      expect(events.map((event) => event.type)).toEqual(["run:leased", "step:start", "step:complete", "run:complete"])
      expect(events.at(-1)).toMatchObject({ type: "run:complete", runId: run.id, output: 4 })
      // Subscribed after the end, the stream is the run's terminal event alone.
      const late = Chunk.toReadonlyArray(yield* Stream.runCollect(durably.subscribe(run.id)))
      expect(late.map((event) => event.type)).toEqual(["run:complete"])
    }))
})

describe("trigger on SQLite, written at once when the connection is free", () => {
  const echo = Job.make({ name: "echo", input: Schema.Number, run: (n) => Effect.succeed(n) })

  it.live("waits while another fiber's transaction holds the connection, and rolls back with the caller's own", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const sql = yield* SqlClient.SqlClient
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Another fiber's transaction, rolled back: a trigger written into it would be lost with it.
      const transaction = yield* Effect.fork(
        sql.withTransaction(
          Effect.zipRight(Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(release)), Effect.fail("roll back"))
        )
      )
      yield* Deferred.await(inside)
      const trigger = yield* Effect.fork(durably.trigger(echo, 1))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30)))
      expect(trigger.unsafePoll()).toBeNull()
      yield* Deferred.succeed(release, undefined)
      expect(Exit.isFailure(yield* Fiber.await(transaction))).toBe(true)
      const { run } = yield* Fiber.join(trigger)
      expect(yield* durably.getRun(run.id)).toMatchObject({ status: "pending", input: 1 })

      const rolledBack = yield* Effect.exit(
        sql.withTransaction(Effect.flatMap(durably.trigger(echo, 2), ({ run }) => Effect.fail(run.id)))
      )
      const lostId = Exit.isFailure(rolledBack) ? Option.getOrElse(Cause.failureOption(rolledBack.cause), () => "") : ""
      expect(lostId).not.toBe("")
      expect(yield* Effect.flip(durably.getRun(String(lostId)))).toMatchObject({ _tag: "NotFoundError" })
      expect((yield* durably.getRuns()).map((r) => r.input)).toEqual([1])
    }).pipe(Effect.provide(engineOnFile({ jobs: [echo], autoStart: false }))))
})

describe("unsafeTriggerOf: the trigger done at once, outside the runtime", () => {
  const echo = Job.make({ name: "echo", input: Schema.Number, run: (n) => Effect.succeed(n) })
  const fastTrigger = (durably: Durably.Durably["Type"]): UnsafeTrigger => {
    const trigger = unsafeTriggerOf(durably)
    if (trigger === undefined) throw new Error("Durably.layer registers its fast trigger")
    return trigger
  }

  it.scopedLive("stores the run at the time given, publishes run:trigger and wakes the idle worker", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const events = yield* (yield* EventBus.EventBus).subscribeWhere(() => true, (type) => type === "run:trigger")
      // Let the worker find nothing and go to sleep: it polls once a minute.
      yield* Effect.sleep("100 millis")
      const now = (yield* Clock.currentTimeMillis) - 1_234
      const triggered = fastTrigger(durably)(echo, 7, { labels: { team: "a" } }, now)
      if (!Either.isEither(triggered) || Either.isLeft(triggered)) return expect.fail("not triggered at once")
      const { run, disposition } = triggered.right
      expect(disposition).toBe("created")
      expect(run).toMatchObject({ jobName: "echo", input: 7, status: "pending", labels: { team: "a" } })
      expect(run.createdAt.getTime()).toBe(now)
      expect(yield* Queue.take(events)).toMatchObject({ type: "run:trigger", runId: run.id, input: 7, timestamp: new Date(now) })
      // Only the wake-up gets it going within the minute.
      const finished = yield* Effect.timeout(durably.waitForRun(run.id), "5 seconds")
      expect(finished).toMatchObject({ status: "completed", output: 7 })
    }).pipe(Effect.provide(engineOnFile({ jobs: [echo], pollingInterval: "1 minute" }))))

  it.live("writes nothing and answers with the effect that does the rest when it cannot: a transaction holds the connection, or the input does not encode", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const sql = yield* SqlClient.SqlClient
      const held = yield* sql.withTransaction(Effect.sync(() => fastTrigger(durably)(echo, 1, undefined, 0)))
      expect(Either.isEither(held)).toBe(false)
      expect(yield* durably.getRuns()).toEqual([])
      const bad = fastTrigger(durably)(echo, "not a number" as unknown as number, undefined, 0)
      expect(Either.isEither(bad)).toBe(false)
      expect(yield* Effect.flip(bad)).toMatchObject({ _tag: "ValidationError" })
      const unknown = Job.make({ name: "unknown", input: Schema.Number, run: (n) => Effect.succeed(n) })
      const missing = fastTrigger(durably)(unknown, 1, undefined, 0)
      expect(Either.isEither(missing) && Either.isLeft(missing) ? missing.left : missing).toMatchObject({ _tag: "NotFoundError", id: "unknown" })
      expect(yield* durably.getRuns()).toEqual([])
      // Once the transaction is over, the effect stores the run.
      const { run } = yield* held
      expect((yield* durably.getRuns()).map((r) => [r.id, r.input])).toEqual([[run.id, 1]])
    }).pipe(Effect.provide(engineOnFile({ jobs: [echo], autoStart: false }))))
})

describe("bad input", () => {
  const typed = Job.make({
    name: "typed",
    input: Schema.Struct({ orgId: Schema.String, count: Schema.Number }),
    run: ({ count }) => Effect.succeed(count)
  })

  it.live("input failing its schema is a ValidationError with the issues, and nothing is stored", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const result = yield* Effect.either(durably.triggerByName("typed", { orgId: 5 }))
      expect(Either.isLeft(result) && result.left._tag).toBe("ValidationError")
      if (Either.isLeft(result) && result.left._tag === "ValidationError") {
        const paths = result.left.issues.map((issue) => issue.path.join("."))
        expect(paths).toEqual(expect.arrayContaining(["orgId", "count"]))
      }
      const unknown = yield* Effect.either(durably.triggerByName("nope", {}))
      expect(Either.isLeft(unknown) && unknown.left).toMatchObject({ _tag: "NotFoundError", entity: "job", id: "nope" })
      expect(yield* durably.getRuns()).toEqual([])
    }).pipe(Effect.provide(engineOnFile({ jobs: [typed] }))))

  it.live("a bad option fails the layer with a ValidationError naming it", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(
        Effect.provide(Durably.Durably, engineOnFile({ jobs: [typed], leaseDuration: -5, pollingInterval: Duration.infinity, maxConcurrentRuns: 1.5 }))
      )
      expect(Either.isLeft(result) && result.left._tag).toBe("ValidationError")
      if (Either.isLeft(result) && result.left._tag === "ValidationError") {
        expect(result.left.issues.map((issue) => issue.path[0])).toEqual(
          expect.arrayContaining(["leaseDuration", "pollingInterval", "maxConcurrentRuns"])
        )
      }
    }))

  it.live("a run of a job this worker does not know is left pending for a worker that knows it, until it is registered", () =>
    Effect.gen(function* () {
      const durably = yield* Durably.Durably
      const store = yield* Store
      const { run } = yield* store.enqueue({ jobName: "ghost", input: null })
      const bus = yield* EventBus.EventBus
      const events = yield* bus.subscribe
      expect(yield* durably.processOne).toBe(false)
      expect(yield* durably.getRun(run.id)).toMatchObject({ status: "pending", attempt: 0 })
      expect(yield* Queue.size(events)).toBe(0)
      const ghost = Job.make({ name: "ghost", input: Schema.Null, run: () => Effect.succeed("boo") })
      yield* durably.register([ghost])
      expect(yield* durably.processOne).toBe(true)
      expect(yield* durably.getRun(run.id)).toMatchObject({ status: "completed", output: "boo" })
    }).pipe(Effect.scoped, Effect.provide(engineOnFile({ jobs: [typed], autoStart: false }))))
})
