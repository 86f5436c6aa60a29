// Two engines with different jobs on one database: each claims only the runs
// of the jobs it has, so neither fails the other's runs as unknown, and a job
// registered later is claimed from then on.
import { Durably, EventBus, Job, Step, Worker } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { DurablyNode } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Store } from "@durably/core/Store"
import { Chunk, Context, Effect, Layer, Queue, Schema } from "effect"
import { join } from "node:path"
import { freshSchemaUrl, pgAvailable } from "../support/postgres.js"
import { tempDir } from "../support/sqlite.js"

const alpha = Job.make({
  name: "alpha",
  input: Schema.Number,
  run: (n) => Step.run("double", Effect.succeed(n * 2))
})
const beta = Job.make({
  name: "beta",
  input: Schema.Number,
  run: (n) => Step.run("negate", Effect.succeed(-n))
})
const gamma = Job.make({
  name: "gamma",
  input: Schema.Number,
  run: (n) => Effect.succeed(n + 100)
})

type EngineLayer = (jobs: ReadonlyArray<Job.Standalone>, workerId: string) => Layer.Layer<DurablyNode.Services, DurablyNode.LayerError>

const partitioned = (engineOn: EngineLayer) =>
  Effect.gen(function* () {
    const a = yield* Layer.build(engineOn([alpha], "A"))
    const b = yield* Layer.build(engineOn([beta], "B"))
    const durablyA = Context.get(a, Durably.Durably)
    const durablyB = Context.get(b, Durably.Durably)
    const leasedBy = (context: Context.Context<DurablyNode.Services>) =>
      Context.get(context, EventBus.EventBus).subscribeWhere((event) => event.type === "run:leased")
    const leasedA = yield* leasedBy(a)
    const leasedB = yield* leasedBy(b)

    // Each engine triggers the other's job too (by its store), so both kinds wait in one queue.
    const storeOf = (context: Context.Context<DurablyNode.Services>) => Context.get(context, Store)
    const runs = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), (i) =>
      storeOf(i % 2 === 0 ? b : a).enqueue({ jobName: i % 3 === 0 ? "gamma" : i % 2 === 0 ? "alpha" : "beta", input: i })
    )
    const ofJob = (name: string) => runs.filter(({ run }) => run.jobName === name).map(({ run }) => run.id)
    yield* Effect.forEach([...ofJob("alpha"), ...ofJob("beta")], (id) => durablyA.waitForRun(id, { timeout: "20 seconds" }), {
      concurrency: "unbounded"
    })
    // Nobody knows gamma yet: its runs wait, untouched.
    for (const id of ofJob("gamma")) expect(yield* durablyA.getRun(id)).toMatchObject({ status: "pending", attempt: 0 })
    const seenBy = (queue: Queue.Dequeue<DurablyEvent>) =>
      Effect.map(Queue.takeAll(queue), (events) => Chunk.toReadonlyArray(events).map((event) => event.jobName))
    expect(new Set(yield* seenBy(leasedA))).toEqual(new Set(["alpha"]))
    expect(new Set(yield* seenBy(leasedB))).toEqual(new Set(["beta"]))

    // B learns gamma and takes its runs.
    yield* durablyB.register([gamma])
    yield* Context.get(b, Worker.Worker).wake
    const done = yield* Effect.forEach(ofJob("gamma"), (id) => durablyB.waitForRun(id, { timeout: "20 seconds" }))
    expect(done.map((run) => run.output)).toEqual(done.map((run) => Number(run.input) + 100))
    const all = yield* durablyA.getRuns()
    expect(all.filter((run) => run.status !== "completed")).toEqual([])
    expect(all.length).toBe(6)
  })

describe("each worker claims only the runs of its own jobs", () => {
  it.scopedLive("on one SQLite file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = join(dir, "db.sqlite")
      yield* partitioned((jobs, workerId) => DurablyNode.sqlite({ filename, jobs, workerId, pollingInterval: "20 millis" }))
    }))

  it.scopedLive.skipIf(!pgAvailable)("on PostgreSQL", () =>
    Effect.gen(function* () {
      const url = yield* freshSchemaUrl()
      yield* partitioned((jobs, workerId) => DurablyNode.pg({ url, jobs, workerId, pollingInterval: "20 millis" }))
    }))
})
