// When a completed step's result is written: before the run's next step (or
// log, or progress) and at the latest with the run's last write. A run whose
// terminal write deletes step outputs does not write its last steps at all.
import { Durably, EventBus, Job, Step, Worker } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Queue, Ref, Schema, Scope } from "effect"
import { join } from "node:path"
import { tempDir } from "../support/sqlite.js"

/** A store that counts step writes by step name, each taking `delayMs` first (a remote database). */
const counting = (written: Ref.Ref<ReadonlyArray<string>>, delayMs: number) =>
  Layer.effect(
    Store,
    Effect.map(Store, (store) =>
      Store.of({
        ...store,
        persistStep: (lease, step) =>
          Effect.zipRight(
            Ref.update(written, (names) => [...names, step.name]),
            Effect.zipRight(Effect.sleep(delayMs), store.persistStep(lease, step))
          )
      })
    )
  )

/** A file store, an event bus, and an engine with `options` over a store counting its step writes. */
const setup = <J extends Job.Any>(options: Omit<Durably.Options<J>, "autoStart">, delayMs = 0) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const filename = join(dir, "db.sqlite")
    const written = yield* Ref.make<ReadonlyArray<string>>([])
    const shared = yield* Layer.build(Layer.merge(NodeStore.sqlite({ filename }), EventBus.layer))
    const layerScope = yield* Scope.make()
    const engine = yield* Layer.buildWithScope(
      Durably.layer({ ...options, autoStart: false }).pipe(
        Layer.provide(counting(written, delayMs)),
        Layer.provide(Layer.succeedContext(shared))
      ),
      layerScope
    )
    const events = yield* Context.get(shared, EventBus.EventBus).subscribe
    return {
      filename,
      written,
      layerScope,
      events,
      store: Context.get(shared, Store),
      durably: Context.get(engine, Durably.Durably),
      worker: Context.get(engine, Worker.Worker)
    }
  })

/** The run's stored steps, as `name:status`. */
const storedSteps = (runId: string) =>
  Effect.flatMap(Store, (store) => Effect.map(store.getSteps(runId), (steps) => steps.map((s) => `${s.name}:${s.status}`)))

const drain = (events: Queue.Dequeue<DurablyEvent>) =>
  Effect.map(Queue.takeAll(events), (chunk) => [...chunk].map((e) => ("stepName" in e && e.stepName !== null ? `${e.type} ${e.stepName}` : e.type)))

const threeSteps = Job.make({
  name: "three-steps",
  input: Schema.Null,
  run: () =>
    Effect.gen(function* () {
      yield* Step.run("one", Effect.succeed(1))
      yield* Step.log.info("between")
      yield* Step.run("two", Effect.succeed(2))
      return yield* Step.run("three", Effect.succeed(3))
    })
})

describe("step writes", () => {
  it.scopedLive("a step's result is stored before the next step starts", () =>
    Effect.gen(function* () {
      let seen: ReadonlyArray<string> = []
      let runId = ""
      const job = Job.make({
        name: "looks-back",
        input: Schema.Null,
        run: () =>
          Effect.gen(function* () {
            yield* Step.run("one", Effect.succeed(1))
            yield* Step.run(
              "two",
              Effect.suspend(() =>
                Effect.map(storedSteps(runId), (steps) => {
                  seen = steps
                })
              )
            )
          })
      })
      const { durably, worker } = yield* setup({ jobs: [job] })
      runId = (yield* durably.trigger(job, null)).run.id
      yield* worker.processOne
      expect(seen).toEqual(["one:completed"])
    })
  )

  it.scopedLive("steps started together after a step both start after its result is stored", () =>
    Effect.gen(function* () {
      const seen: Array<ReadonlyArray<string>> = []
      let runId = ""
      const look = Effect.suspend(() =>
        Effect.map(storedSteps(runId), (steps) => {
          seen.push(steps)
        })
      )
      const job = Job.make({
        name: "fans-out",
        input: Schema.Null,
        run: () =>
          Effect.zipRight(
            Step.run("one", Effect.succeed(1)),
            Effect.all([Step.run("left", look), Step.run("right", look)], { concurrency: 2 })
          )
      })
      // Step writes take a while, as over a network: the second step must wait for the write the first one started.
      const { durably, worker } = yield* setup({ jobs: [job], preserveSteps: true }, 30)
      runId = (yield* durably.trigger(job, null)).run.id
      yield* worker.processOne
      expect(seen).toHaveLength(2)
      for (const steps of seen) expect(steps).toContain("one:completed")
    })
  )

  it.scopedLive("without preserveSteps the last step is not written; its event still comes before run:complete", () =>
    Effect.gen(function* () {
      const { durably, events, store, worker, written } = yield* setup({ jobs: [threeSteps] })
      const { run } = yield* durably.trigger(threeSteps, null)
      expect(yield* worker.processOne).toBe(true)
      expect(yield* Ref.get(written)).toEqual(["one", "two"])
      expect(yield* store.getSteps(run.id)).toEqual([])
      expect((yield* store.getRun(run.id)).status).toBe("completed")
      expect(yield* drain(events)).toEqual([
        "run:trigger",
        "run:leased",
        "step:start one",
        "step:complete one",
        "log:write",
        "step:start two",
        "step:complete two",
        "step:start three",
        "step:complete three",
        "run:complete"
      ])
    })
  )

  it.scopedLive("with preserveSteps every step is written, the last one before the run completes", () =>
    Effect.gen(function* () {
      const { durably, store, worker, written } = yield* setup({ jobs: [threeSteps], preserveSteps: true })
      const { run } = yield* durably.trigger(threeSteps, null)
      yield* worker.processOne
      expect(yield* Ref.get(written)).toEqual(["one", "two", "three"])
      const steps = yield* store.getSteps(run.id)
      expect(steps.map((s) => [s.name, s.status, s.output])).toEqual([
        ["one", "completed", 1],
        ["two", "completed", 2],
        ["three", "completed", 3]
      ])
    })
  )

  it.scopedLive("a job failing after a step, with preserveSteps, keeps that step's result", () =>
    Effect.gen(function* () {
      const job = Job.make({
        name: "fails-after",
        input: Schema.Null,
        run: () =>
          Effect.gen(function* () {
            const one = yield* Step.run("one", Effect.succeed(1))
            if (one === 1) return yield* Effect.fail(new Error("no"))
            return one
          })
      })
      const { durably, store, worker } = yield* setup({ jobs: [job], preserveSteps: true })
      const { run } = yield* durably.trigger(job, null)
      yield* worker.processOne
      expect((yield* store.getRun(run.id)).status).toBe("failed")
      expect((yield* store.getSteps(run.id)).map((s) => [s.name, s.status])).toEqual([["one", "completed"]])
    })
  )

  it.scopedLive("a shutdown between steps stores the finished step before handing the run back", () =>
    Effect.gen(function* () {
      const ran = new Map<string, number>()
      const count = (name: string) => Effect.sync(() => ran.set(name, (ran.get(name) ?? 0) + 1))
      const between = yield* Deferred.make<void>()
      const job = Job.make({
        name: "waits-between",
        input: Schema.Null,
        run: () =>
          Effect.gen(function* () {
            yield* Step.run("one", Effect.as(count("one"), 1))
            // Outside any step: the first execution waits here until it is shut down.
            if (ran.get("two") === undefined && ran.get("resumed") === undefined) {
              yield* Deferred.succeed(between, undefined)
              yield* Effect.never
            }
            return yield* Step.run("two", Effect.as(count("two"), 2))
          })
      })
      const first = yield* setup({ jobs: [job], shutdownTimeout: "50 millis" })
      const { run } = yield* first.durably.trigger(job, null)
      const processing = yield* Effect.fork(first.worker.processOne)
      yield* Deferred.await(between)
      yield* Scope.close(first.layerScope, Exit.void)
      yield* Fiber.await(processing)
      expect(yield* Ref.get(first.written)).toEqual(["one"])
      expect((yield* first.store.getRun(run.id)).status).toBe("pending")
      expect((yield* first.store.getSteps(run.id)).map((s) => s.name)).toEqual(["one"])

      ran.set("resumed", 1)
      const second = yield* Effect.provide(
        Effect.flatMap(Durably.Durably, (durably) => durably.processOne),
        Durably.layer({ jobs: [job], autoStart: false }).pipe(
          Layer.provide(Layer.merge(NodeStore.sqlite({ filename: first.filename }), EventBus.layer))
        )
      )
      expect(second).toBe(true)
      expect((yield* first.store.getRun(run.id)).status).toBe("completed")
      expect(ran.get("one")).toBe(1)
      expect(ran.get("two")).toBe(1)
    })
  )
})
