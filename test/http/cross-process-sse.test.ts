// The SSE routes following a run that executes in ANOTHER process: this
// process serves the HTTP API (its own worker is never started), a real child
// process runs the worker on the same database (a SQLite file, or PostgreSQL),
// and SSE clients here read `GET /subscribe?runId=` and `GET /runs/subscribe`.
// Everything the child does reaches them only through the store.
import { DurablyNode } from "@durably/node"
import { DurablyHttp } from "@durably/http"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventsAfterLease, stepsWithLogs } from "../support/children/eventsJob.js"
import { forkChild } from "../support/processes.js"
import { freshSchemaUrl, pgAvailable } from "../support/postgres.js"
import { tempDir } from "../support/sqlite.js"
import type { Api, EventJson, Frame } from "./routesSuite.js"
import { Gates, eventsOf, makeApi, openSse, trigger } from "./routesSuite.js"

const script = fileURLToPath(new URL("../support/children/events-worker.ts", import.meta.url))
const deadlineMs = 30_000

/** What one run of `steps-with-logs` with input `n` publishes from its lease on, as the SSE client must read it. */
const fromLease = (n: number) => [{ type: "run:leased", attempt: 1 }, ...eventsAfterLease(n)]

const promise = <A>(run: () => Promise<A>) => Effect.promise(run)

const scenario = (dialect: "sqlite" | "pg", target: string, engine: Layer.Layer<DurablyNode.Services, unknown>) =>
  Effect.gen(function* () {
    // This process never executes a run: its worker is not started.
    const context = yield* Layer.build(engine)
    const api: Api = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // Every frame as it is made: a progress update is never held back.
        const handler = DurablyHttp.toWebHandler(context, { keepAliveMs: 50, progressThrottleMs: 0 })
        return makeApi({
          fetch: (path, init) => handler.handle(new Request(`http://localhost${path}`, init)),
          filename: target,
          gates: new Gates(),
          dispose: handler.dispose
        })
      }),
      (api) => promise(api.close)
    )

    const list = yield* promise(() => openSse(api, "/runs/subscribe"))
    const filtered = yield* promise(() => openSse(api, `/runs/subscribe?jobName=${stepsWithLogs.name}&label.team=a`))
    yield* promise(() => Promise.all([list.live(), filtered.live()]))

    const { runId } = yield* promise(() => trigger(api, { jobName: stepsWithLogs.name, input: 4, labels: { team: "a" } }))
    const run = yield* promise(() => openSse(api, `/subscribe?runId=${runId}`))
    yield* promise(() => run.live())

    // Only now is there a process to execute the run, so every stream sees it from its lease.
    yield* forkChild(script, [dialect, target])

    // All three are read at once, as real clients would: an unread stream is not pulled (backpressure), so
    // the store is not polled for it either.
    const ended = (frame: Frame) => frame.kind === "event" && frame.event.runId === runId && frame.event.type === "run:complete"
    const [runFrames, listFrames, filteredFrames] = yield* promise(() =>
      Promise.all([
        run.toEnd("the run's events, then the end of the stream", deadlineMs),
        list.until(ended, "the run's completion in the run list", deadlineMs),
        filtered.until(ended, "the run's completion in the filtered run list", deadlineMs)
      ])
    )

    expect(eventsOf(runFrames)).toEqual(
      fromLease(4).map((event) => expect.objectContaining({ ...event, runId, jobName: stepsWithLogs.name }))
    )
    for (const frames of [listFrames, filteredFrames]) {
      const ofRun = eventsOf(frames).filter((event: EventJson) => event.runId === runId)
      const types = ofRun.map((event) => event.type)
      expect(types.slice(0, 2)).toEqual(["run:trigger", "run:leased"])
      expect(types.filter((type) => type !== "run:progress")).toEqual(["run:trigger", "run:leased", "run:complete"])
      expect(types.filter((type) => type === "run:progress").length).toBeLessThanOrEqual(2)
      expect(ofRun[0]).toMatchObject({ type: "run:trigger", input: 4, labels: { team: "a" } })
      expect(ofRun.at(-1)).toMatchObject({ type: "run:complete", output: 11 })
    }
  })

describe("SSE routes following a run that executes in another process", () => {
  it.scopedLive("SQLite file", () =>
    Effect.gen(function* () {
      const filename = join(yield* tempDir, "db.sqlite")
      yield* scenario(
        "sqlite",
        filename,
        DurablyNode.sqlite({ filename, jobs: [stepsWithLogs], autoStart: false, pollingInterval: "25 millis" })
      )
    }))

  it.scopedLive.skipIf(!pgAvailable)("PostgreSQL", () =>
    Effect.gen(function* () {
      const url = yield* freshSchemaUrl()
      yield* scenario("pg", url, DurablyNode.pg({ url, jobs: [stepsWithLogs], autoStart: false, pollingInterval: "25 millis" }))
    }))
})
