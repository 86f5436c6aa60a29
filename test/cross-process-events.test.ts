// Runs executed by ANOTHER process, followed from this one: a real child
// process runs the worker on the same database (a SQLite file, or PostgreSQL),
// and this process's `subscribe`, `waitForRun` and `subscribeRuns` see the
// run's steps, progress, log entries and end, in order, through the store.
import { Durably, EventBus } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { Store } from "@durably/core/Store"
import { DurablyNode, NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventsAfterLease, stepsWithLogs } from "./support/children/eventsJob.js"
import { forkChild } from "./support/processes.js"
import { freshSchemaUrl, pgAvailable } from "./support/postgres.js"
import { tempDir } from "./support/sqlite.js"

const script = fileURLToPath(new URL("./support/children/events-worker.ts", import.meta.url))
const deadline = Duration.seconds(30)

const collect = (stream: Stream.Stream<DurablyEvent, unknown>) =>
  Effect.map(Stream.runCollect(Stream.timeoutFail(stream, () => new Error("the stream did not end"), deadline)), Chunk.toReadonlyArray)


const scenario = (dialect: "sqlite" | "pg", target: string, parentLayer: Layer.Layer<DurablyNode.Services, unknown>, outside: Layer.Layer<Store, unknown>) =>
  Effect.gen(function* () {
    // This process never executes a run of the job: its worker is not started.
    const parent = yield* Layer.build(parentLayer)
    const durably = Context.get(parent, Durably.Durably)
    const bus = Context.get(parent, EventBus.EventBus)
    yield* forkChild(script, [dialect, target])

    const subscribersBefore = yield* bus.subscribers
    let completes = 0
    const feed = yield* Effect.fork(
      collect(
        durably.subscribeRuns({ jobName: stepsWithLogs.name }).pipe(
          Stream.takeUntil((event) => event.type === "run:complete" && ++completes === 2)
        )
      )
    )
    yield* Effect.repeat(Effect.sleep("5 millis"), { until: () => Effect.runSync(bus.subscribers) > subscribersBefore })

    // One run triggered here, one by another writer of the database (not on this process's bus).
    const { run: here } = yield* durably.trigger(stepsWithLogs, 1)
    const hereEvents = yield* Effect.fork(collect(durably.subscribe(here.id)))
    const hereDone = yield* Effect.fork(durably.waitForRun(here.id, { timeout: deadline }))
    const writer = yield* Layer.build(outside)
    const { run: there } = yield* Context.get(writer, Store).enqueue({ jobName: stepsWithLogs.name, input: 10 })
    const thereEvents = yield* Effect.fork(collect(durably.subscribe(there.id)))

    // Each stream opened as the child may already have leased the run: everything after that, in order.
    const leased = (events: ReadonlyArray<DurablyEvent>) => events.filter((event) => event.type === "run:leased")
    const seenHere = yield* Fiber.join(hereEvents)
    expect(leased(seenHere).length).toBeLessThanOrEqual(1)
    expect(seenHere.filter((event) => event.type !== "run:leased")).toEqual(
      eventsAfterLease(1).map((event) => expect.objectContaining({ ...event, runId: here.id }))
    )
    expect(yield* Fiber.join(hereDone)).toMatchObject({ id: here.id, status: "completed", output: 5 })
    const seenThere = yield* Fiber.join(thereEvents)
    expect(leased(seenThere).length).toBeLessThanOrEqual(1)
    expect(seenThere.filter((event) => event.type !== "run:leased")).toEqual(
      eventsAfterLease(10).map((event) => expect.objectContaining({ ...event, runId: there.id }))
    )

    const listed = yield* Fiber.join(feed)
    for (const id of [here.id, there.id]) {
      const types = listed.filter((event) => event.runId === id).map((event) => event.type)
      expect(types.slice(0, 2)).toEqual(["run:trigger", "run:leased"])
      expect(types.at(-1)).toBe("run:complete")
      expect(types.filter((type) => type === "run:trigger" || type === "run:complete")).toEqual(["run:trigger", "run:complete"])
      expect(types.filter((type) => type === "run:progress").length).toBeLessThanOrEqual(2)
    }
    expect(listed.find((event) => event.runId === there.id && event.type === "run:trigger")).toMatchObject({ input: 10 })
  })

describe("events of a run executing in another process", () => {
  it.scopedLive("SQLite file", () =>
    Effect.gen(function* () {
      const filename = join(yield* tempDir, "db.sqlite")
      yield* scenario(
        "sqlite",
        filename,
        DurablyNode.sqlite({ filename, jobs: [stepsWithLogs], autoStart: false, pollingInterval: "25 millis" }),
        NodeStore.sqlite({ filename })
      )
    }))

  it.scopedLive.skipIf(!pgAvailable)("PostgreSQL", () =>
    Effect.gen(function* () {
      const url = yield* freshSchemaUrl()
      yield* scenario(
        "pg",
        url,
        DurablyNode.pg({ url, jobs: [stepsWithLogs], autoStart: false, pollingInterval: "25 millis" }),
        NodeStore.pg({ url })
      )
    }))
})
