// Shutdown while a step body is running, when that body does not stop when
// told to (a promise deaf to its abort signal): the worker gives the run up
// without handing its lease back, so no other worker starts the step again
// until the lease has expired. The body never runs twice at once.
import { Durably, Job, Step, Worker } from "@durably/core"
import { Store } from "@durably/core/Store"
import { DurablyNode } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { createDurably, defineJob } from "durably"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { join } from "node:path"
import { tempDir } from "../support/sqlite.js"

const bodyMs = 600
const leaseMs = 1_500

/** How many bodies run now, the most that ever ran at once, and how many started. */
const tracker = () => {
  const state = { active: 0, maxActive: 0, started: 0, lastEndedAt: 0 }
  /** A body of `bodyMs` that ignores every request to stop. */
  const deafBody = () =>
    new Promise<number>((resolve) => {
      state.active++
      state.started++
      state.maxActive = Math.max(state.maxActive, state.active)
      setTimeout(() => {
        state.active--
        state.lastEndedAt = Date.now()
        resolve(state.started)
      }, bodyMs)
    })
  return { state, deafBody }
}

const waitUntil = (check: () => boolean) =>
  Effect.repeat(Effect.sleep("10 millis"), { until: check })

describe("shutdown mid-step with a body that ignores interruption", () => {
  it.scopedLive("Effect API: the lease is left to expire, and the run resumes elsewhere only then", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = join(dir, "db.sqlite")
      const { deafBody, state } = tracker()
      const job = Job.make({
        name: "deaf",
        input: Schema.Null,
        run: () =>
          Effect.gen(function* () {
            yield* Step.run("before", Effect.succeed(1))
            // `Effect.promise` with no signal: interrupting it does not stop the promise.
            return yield* Step.run("deaf", Effect.promise(deafBody))
          })
      })
      const engine = (workerId: string, autoStart: boolean) =>
        Layer.build(
          DurablyNode.sqlite({
            filename,
            jobs: [job],
            workerId,
            autoStart,
            pollingInterval: "20 millis",
            leaseDuration: leaseMs,
            leaseRenewInterval: "300 millis",
            shutdownTimeout: "50 millis"
          })
        )
      const a = yield* engine("A", true)
      const { run } = yield* Context.get(a, Durably.Durably).trigger(job, null)
      yield* waitUntil(() => state.started === 1)
      yield* Context.get(a, Worker.Worker).stop
      const stoppedAt = Date.now()
      expect(state.active).toBe(1)

      const b = yield* engine("B", false)
      const held = yield* Context.get(b, Store).getRun(run.id)
      expect(held).toMatchObject({ status: "leased", leaseOwner: "A" })
      // Nobody can take the run before A's lease expired.
      expect(Option.isNone(yield* Context.get(b, Store).claim({ workerId: "B", leaseMs, jobNames: ["deaf"] }))).toBe(true)
      yield* Context.get(b, Worker.Worker).start
      const done = yield* Effect.timeout(Context.get(b, Durably.Durably).waitForRun(run.id), "10 seconds")
      expect(done).toMatchObject({ status: "completed", output: 2, attempt: 2 })
      expect(state.maxActive).toBe(1)
      expect(state.started).toBe(2)
      // B started its body after A's had ended (after A's lease expired, well after the stop).
      expect((done.completedAt?.getTime() ?? 0) - bodyMs).toBeGreaterThanOrEqual(stoppedAt + leaseMs - 400)
    }))

  it.scopedLive("Promise facade: a step that ignores its AbortSignal is not started again before the lease expired", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const database = join(dir, "db.sqlite")
      const { deafBody, state } = tracker()
      const deaf = defineJob({
        name: "deaf",
        input: Schema.Struct({}),
        output: Schema.Number,
        run: async (step) => {
          await step.run("before", () => 1)
          return await step.run("deaf", () => deafBody())
        }
      })
      const options = {
        database,
        jobs: { deaf },
        pollingIntervalMs: 20,
        leaseMs,
        leaseRenewIntervalMs: 300,
        shutdownTimeoutMs: 50
      }
      const first = createDurably(options)
      const second = createDurably(options)
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => Promise.allSettled([first.dispose(), second.dispose()]))
      )
      const { run, stoppedAt } = yield* Effect.promise(async () => {
        await first.init()
        const run = await first.jobs.deaf.trigger({})
        while (state.started === 0) await new Promise((resolve) => setTimeout(resolve, 10))
        await first.stop()
        return { run, stoppedAt: Date.now() }
      })
      expect(state.active).toBe(1)
      const done = yield* Effect.promise(async () => {
        await second.init()
        expect(await second.getRun(run.id)).toMatchObject({ status: "leased" })
        return second.waitForRun(run.id, { timeout: 10_000 })
      })
      expect(done).toMatchObject({ status: "completed", output: 2, attempt: 2 })
      expect(state.maxActive).toBe(1)
      expect(state.started).toBe(2)
      expect((done.completedAt?.getTime() ?? 0) - bodyMs).toBeGreaterThanOrEqual(stoppedAt + leaseMs - 400)
    }))
})
