// Two engines on one SQLite file, each with its own event bus, stand for two
// processes: what one does, the other sees only by polling the store.
import { Durably, Job, Step } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { Store } from "@durably/core/Store"
import { DurablyNode } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Layer, Queue, Schema, Stream } from "effect"
import { join } from "node:path"
import { tempDir } from "../support/sqlite.js"

const twoEngines = (jobs: ReadonlyArray<Job.Standalone>, options: { readonly preserveSteps?: boolean } = {}) =>
  Effect.gen(function* () {
    const filename = join(yield* tempDir, "db.sqlite")
    const build = (autoStart: boolean) =>
      Layer.build(
        DurablyNode.sqlite({ filename, jobs, autoStart, pollingInterval: "20 millis", maxConcurrentRuns: 2, ...options })
      )
    // The observer never executes anything; the worker knows nothing of the observer's subscribers.
    const observer = yield* build(false)
    const worker = yield* build(true)
    return {
      observer: Context.get(observer, Durably.Durably),
      worker: Context.get(worker, Durably.Durably),
      workerStore: Context.get(worker, Store)
    }
  })

const collect = (stream: Stream.Stream<DurablyEvent, unknown>) =>
  Effect.map(Stream.runCollect(Stream.timeoutFail(stream, () => new Error("the stream did not end"), "10 seconds")), Chunk.toReadonlyArray)

describe("subscribe to a run executing elsewhere", () => {
  const failing = Job.make({
    name: "fails-in-step",
    input: Schema.Null,
    run: () =>
      Effect.gen(function* () {
        yield* Step.run("ok", Effect.as(Effect.sleep("100 millis"), 1))
        yield* Step.log.warn("about to fail")
        yield* Effect.sleep("100 millis")
        yield* Step.run("boom", Effect.zipRight(Effect.sleep("100 millis"), Effect.fail(new Error("remote said no"))))
      })
  })

  it.scopedLive("a failure: the stored step results, the log entry, then run:fail naming the step", () =>
    Effect.gen(function* () {
      const { observer, worker } = yield* twoEngines([failing])
      const { run } = yield* worker.trigger(failing, null)
      const events = yield* collect(observer.subscribe(run.id))
      expect(events.filter((event) => event.type !== "run:leased")).toEqual([
        expect.objectContaining({ type: "step:complete", stepName: "ok", output: 1 }),
        expect.objectContaining({ type: "log:write", level: "warn", message: "about to fail", stepName: null }),
        expect.objectContaining({ type: "step:fail", stepName: "boom", error: "remote said no" }),
        expect.objectContaining({ type: "run:fail", error: "remote said no", failedStepName: "boom" })
      ])
      const waited = yield* Effect.flip(observer.waitForRun(run.id))
      expect(waited).toMatchObject({ _tag: "JobFailedError", failedStepName: "boom" })
    }))

  const twoSteps = Job.make({
    name: "two-steps",
    input: Schema.Null,
    run: () =>
      Effect.gen(function* () {
        const one = yield* Step.run("one", Effect.as(Effect.sleep("100 millis"), 1))
        return yield* Step.run("two", Effect.as(Effect.sleep("200 millis"), one + 1))
      })
  })

  it.scopedLive("with preserveSteps false the last step's result is never stored: it is seen only through run:complete", () =>
    Effect.gen(function* () {
      const { observer, worker } = yield* twoEngines([twoSteps], { preserveSteps: false })
      const { run } = yield* worker.trigger(twoSteps, null)
      const events = yield* collect(observer.subscribe(run.id))
      expect(events.filter((event) => event.type !== "run:leased")).toEqual([
        expect.objectContaining({ type: "step:complete", stepName: "one", output: 1 }),
        expect.objectContaining({ type: "run:complete", output: 2 })
      ])
    }))

  it.scopedLive("a run deleted elsewhere ends the stream with run:delete", () =>
    Effect.gen(function* () {
      const { observer, worker, workerStore } = yield* twoEngines([twoSteps])
      // A job nobody knows: the run stays pending until it is deleted.
      const { run } = yield* workerStore.enqueue({ jobName: "ghost", input: null })
      const stream = yield* Effect.fork(collect(observer.subscribe(run.id)))
      yield* Effect.sleep("60 millis")
      yield* worker.deleteRun(run.id)
      const events = yield* Effect.flatMap(stream.await, (exit) => exit)
      expect(events).toEqual([expect.objectContaining({ type: "run:delete", runId: run.id, jobName: "ghost" })])
    }))
})

describe("subscribeRuns", () => {
  it.scopedLive("sees another process's trigger, lease, cancel, retry, completion and delete, for the runs its filter selects", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const gated = Job.make({
        name: "gated",
        input: Schema.Null,
        run: () => Step.run("wait", Effect.as(Deferred.await(release), "done"))
      })
      const quick = Job.make({ name: "quick", input: Schema.Null, run: () => Effect.succeed(1) })
      const { observer, worker } = yield* twoEngines([gated, quick])
      const received = yield* Queue.unbounded<DurablyEvent>()
      yield* Effect.forkScoped(
        Stream.runForEach(observer.subscribeRuns({ labels: { team: "x" } }), (event) => Queue.offer(received, event))
      )
      yield* Effect.sleep("50 millis")
      const seen: Array<string> = []
      /** Takes events until one of `type` for `runId` comes; every one taken is recorded. */
      const until = (runId: string, type: DurablyEvent["type"]): Effect.Effect<void, unknown> =>
        Effect.flatMap(Effect.timeoutFail(Queue.take(received), { duration: "5 seconds", onTimeout: () => new Error(`no ${type}`) }), (event) => {
          seen.push(`${event.type} ${event.runId === runId ? "R" : event.runId}`)
          return event.runId === runId && event.type === type ? Effect.void : until(runId, type)
        })

      const { run } = yield* worker.trigger(gated, null, { labels: { team: "x" } })
      yield* worker.trigger(quick, null, { labels: { team: "y" } })
      yield* until(run.id, "run:leased")
      yield* worker.cancel(run.id)
      yield* until(run.id, "run:cancel")
      yield* worker.retry(run.id)
      yield* until(run.id, "run:retry")
      yield* Deferred.succeed(release, undefined)
      yield* until(run.id, "run:complete")
      yield* worker.deleteRun(run.id)
      yield* until(run.id, "run:delete")
      expect(seen).toEqual([
        "run:trigger R",
        "run:leased R",
        "run:cancel R",
        "run:retry R",
        ...seen.slice(4, -2).filter((entry) => entry === "run:leased R"),
        "run:complete R",
        "run:delete R"
      ])
      expect(seen.slice(4, -2).length).toBeLessThanOrEqual(1)
    }))

  it.scopedLive("this process's own events come from its bus, once each, with the job filter applied", () =>
    Effect.gen(function* () {
      const quick = Job.make({ name: "quick", input: Schema.Number, run: (n) => Step.run("double", Effect.succeed(n * 2)) })
      const other = Job.make({ name: "other", input: Schema.Null, run: () => Effect.succeed(null) })
      const { worker } = yield* twoEngines([quick, other])
      const received = yield* Queue.unbounded<DurablyEvent>()
      yield* Effect.forkScoped(Stream.runForEach(worker.subscribeRuns({ jobName: ["quick"] }), (event) => Queue.offer(received, event)))
      yield* Effect.sleep("50 millis")
      const { run } = yield* worker.trigger(quick, 4)
      yield* worker.trigger(other, null)
      yield* worker.waitForRun(run.id)
      // A few polls after the end: nothing more, nothing twice.
      yield* Effect.sleep("150 millis")
      const events = Chunk.toReadonlyArray(yield* Queue.takeAll(received))
      expect(events.map((event) => `${event.type} ${event.jobName}`)).toEqual([
        "run:trigger quick",
        "run:leased quick",
        "run:complete quick"
      ])
      expect(events.at(-1)).toMatchObject({ runId: run.id, output: 8 })
    }))

  it.scopedLive("a trigger coalesced in this process is told as run:coalesced with the pending run's id", () =>
    Effect.gen(function* () {
      const idle = Job.make({ name: "idle", input: Schema.Number, run: (n) => Effect.succeed(n) })
      const { observer } = yield* twoEngines([idle])
      const received = yield* Queue.unbounded<DurablyEvent>()
      yield* Effect.forkScoped(Stream.runForEach(observer.subscribeRuns({ jobName: "idle" }), (event) => Queue.offer(received, event)))
      yield* Effect.sleep("50 millis")
      const first = yield* observer.trigger(idle, 1, { concurrencyKey: "k", coalesce: "skip", labels: { team: "a" } })
      const second = yield* observer.trigger(idle, 2, { concurrencyKey: "k", coalesce: "skip", labels: { team: "a" } })
      expect(second.disposition).toBe("coalesced")
      yield* Effect.sleep("100 millis")
      const events = Chunk.toReadonlyArray(yield* Queue.takeAll(received)).filter((event) => event.runId === first.run.id)
      expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(["run:trigger", "run:coalesced"]))
      expect(events.filter((event) => event.type === "run:coalesced")).toHaveLength(1)
    }))
})
