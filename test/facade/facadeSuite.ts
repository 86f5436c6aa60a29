// The Promise facade (`durably`, SPEC §6) against a real database: every
// instance method and job-handle method with its documented return value, the
// three kinds of schema, the error classes, AbortSignal on cancel, event order,
// preserveSteps and shutdown. `facadeSuite` is run once per backend
// (facade-sqlite.test.ts, facade-pg.test.ts); each test gets a fresh database.
import type { Durably, DurablyEvent, DurablyOptions, EventOf, EventType, JobDefinitions, Progress } from "durably"
import {
  CancelledError,
  ConflictError,
  CorruptRowError,
  DuplicateStepError,
  DurablyError,
  JobFailedError,
  LeaseLostError,
  NotFoundError,
  StoreError,
  ValidationError,
  WaitTimeoutError,
  createDurably,
  defineJob,
  eventTypes
} from "durably"
import type { StandardSchemaV1 } from "@standard-schema/spec"
import { Schema } from "effect"
import * as v from "valibot"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { z } from "zod"

/** A fresh database for one test, and how to remove it. */
export interface TestDatabase {
  readonly database: string
  readonly cleanup: () => Promise<void>
}

export type MakeDatabase = () => Promise<TestDatabase>

// --- helpers -----------------------------------------------------------------

interface Deferred<T> {
  readonly promise: Promise<T>
  readonly resolve: (value: T) => void
}

const deferred = <T = void>(): Deferred<T> => {
  let resolve: (value: T) => void = () => {}
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Rejects after `ms` instead of letting a test hang until vitest's own timeout. */
const within = <T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Sleeps `ms` unless `signal` aborts first (then rejects with its reason, timer cleared). */
const sleepUnlessAborted = (ms: number, signal: AbortSignal) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => resolve("slept"), ms)
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer)
        reject(signal.reason)
      },
      { once: true }
    )
  })

type Constructor<T> = abstract new (...args: never[]) => T

/** The rejection of `promise`, checked to be a `type`. */
const rejection = async <T>(promise: Promise<unknown>, type: Constructor<T>): Promise<T> => {
  let outcome: { readonly error: unknown } | undefined
  try {
    await promise
  } catch (error) {
    outcome = { error }
  }
  if (outcome === undefined) throw new Error(`expected a ${type.name} rejection, but the promise resolved`)
  expect(outcome.error).toBeInstanceOf(type)
  return outcome.error as T
}

/** What `f` throws synchronously, checked to be a `type`. */
const thrown = <T>(f: () => unknown, type: Constructor<T>): T => {
  let outcome: { readonly error: unknown } | undefined
  try {
    f()
  } catch (error) {
    outcome = { error }
  }
  if (outcome === undefined) throw new Error(`expected a ${type.name} to be thrown, but nothing was`)
  expect(outcome.error).toBeInstanceOf(type)
  return outcome.error as T
}

const allEventTypes = eventTypes

interface Recorder {
  readonly events: Array<DurablyEvent>
  /** The first event (already seen or still to come) matching `predicate`. */
  next(predicate: (event: DurablyEvent) => boolean, what: string): Promise<DurablyEvent>
}

/** Records every event `durably` delivers to `on` listeners, in delivery order. */
const record = (durably: Pick<Durably<JobDefinitions>, "on">): Recorder => {
  const events: Array<DurablyEvent> = []
  const waiters: Array<{ readonly predicate: (event: DurablyEvent) => boolean; readonly found: Deferred<DurablyEvent> }> =
    []
  for (const type of allEventTypes) {
    durably.on(type, (event) => {
      events.push(event)
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.found.resolve(event)
        }
      }
    })
  }
  return {
    events,
    next: (predicate, what) => {
      const seen = events.find(predicate)
      if (seen !== undefined) return Promise.resolve(seen)
      const found = deferred<DurablyEvent>()
      waiters.push({ predicate, found })
      return within(found.promise, what)
    }
  }
}

const isEvent =
  <T extends EventType>(type: T, runId: string) =>
  (event: DurablyEvent): event is EventOf<T> =>
    event.type === type && event.runId === runId

/** Reads a stream to its end. */
const readAll = async <T>(stream: ReadableStream<T>): Promise<Array<T>> => {
  const reader = stream.getReader()
  const items: Array<T> = []
  while (true) {
    const { done, value } = await within(reader.read(), "the next stream item")
    if (done) return items
    items.push(value)
  }
}

// --- shared jobs -----------------------------------------------------------------

/** One step; output decoded through an Effect Schema. */
const echo = defineJob({
  name: "echo",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Struct({ doubled: Schema.Number }),
  run: async (step, input) => {
    const doubled = await step.run("double", () => input.n * 2)
    return { doubled }
  }
})

/** Another job, to tell jobs apart in filters. */
const other = defineJob({
  name: "other",
  input: Schema.Struct({ tag: Schema.String }),
  run: async (step, input) => {
    await step.run("noop", () => input.tag)
  }
})

/** Fails in its step "explode". */
const exploding = defineJob({
  name: "exploding",
  input: Schema.Struct({}),
  run: async (step) => {
    await step.run("fine", () => 1)
    await step.run("explode", () => {
      throw new Error("kaboom")
    })
  }
})

// --- the suite -------------------------------------------------------------------

export const facadeSuite = (label: string, makeDatabase: MakeDatabase): void => {
  describe(label, () => {
    let current: TestDatabase | undefined
    const opened: Array<{ readonly dispose: () => Promise<void> }> = []

    beforeEach(async () => {
      current = await makeDatabase()
    })

    afterEach(async () => {
      try {
        for (const durably of opened.splice(0).reverse()) await durably.dispose()
      } finally {
        const db = current
        current = undefined
        await db?.cleanup()
      }
    })

    const database = (): string => {
      if (current === undefined) throw new Error("no database for this test")
      return current.database
    }

    /** A Durably on this test's database (polling every 20 ms), disposed after the test. */
    const open = <Jobs extends JobDefinitions = Record<never, never>>(
      options: Omit<DurablyOptions<Jobs>, "database"> = {}
    ): Durably<Jobs> => {
      const durably = createDurably<Jobs>({ pollingIntervalMs: 20, ...options, database: database() })
      opened.push(durably)
      return durably
    }

    // --- lifecycle -----------------------------------------------------------------

    describe("lifecycle", () => {
      it("migrate() opens the database without starting the worker; start() runs runs; stop() stops claiming", async () => {
        const durably = open({ jobs: { echo } })
        await durably.migrate()
        await durably.migrate() // idempotent
        expect(await durably.getRuns()).toEqual([])
        const first = await durably.jobs.echo.trigger({ n: 1 })
        await sleep(150) // several polling intervals: nothing may claim it
        expect((await durably.getRun(first.id))?.status).toBe("pending")

        await durably.start()
        const done = await within(durably.waitForRun(first.id), "the first run")
        expect(done.status).toBe("completed")
        expect(done.output).toEqual({ doubled: 2 })

        await durably.stop()
        const second = await durably.jobs.echo.trigger({ n: 2 })
        await sleep(150)
        expect((await durably.getRun(second.id))?.status).toBe("pending")

        // Started again after a stop, the worker picks it up.
        await durably.start()
        expect((await within(durably.waitForRun(second.id), "the second run", 5_000)).output).toEqual({ doubled: 4 })
      })

      it("stop() and start() can be repeated: the restarted worker keeps claiming runs", async () => {
        const durably = open({ jobs: { echo }, pollingIntervalMs: 1 })
        await durably.init()
        for (let cycle = 0; cycle < 20; cycle++) {
          // Vary where the polling loop is (claiming or sleeping) when stop() lands; not needed for correctness.
          await sleep(2 + (cycle % 5))
          await durably.stop()
          await durably.start()
          const run = await durably.jobs.echo.trigger({ n: cycle })
          let done: Awaited<ReturnType<typeof durably.waitForRun>>
          try {
            done = await durably.waitForRun(run.id, { timeout: 3_000 })
          } catch (error) {
            if (!(error instanceof WaitTimeoutError)) throw error
            throw new Error(`cycle ${cycle}: after stop() + start() the worker did not claim a pending run within 3 s`)
          }
          expect(done.output).toEqual({ doubled: cycle * 2 })
        }
      })

      it("init() migrates and starts the worker", async () => {
        const durably = open({ jobs: { echo } })
        await durably.init()
        const run = await durably.jobs.echo.trigger({ n: 5 })
        const done = await within(durably.waitForRun(run.id), "the run")
        expect(done).toMatchObject({ id: run.id, status: "completed", output: { doubled: 10 }, attempt: 1 })
        expect(done.completedAt).toBeInstanceOf(Date)
      })

      it("dispose() makes every later call reject; a second dispose() is a no-op", async () => {
        const durably = open({ jobs: { echo } })
        await durably.init()
        const run = await durably.jobs.echo.trigger({ n: 1 })
        await durably.dispose()
        await durably.dispose()
        const error = await rejection(durably.getRun(run.id), DurablyError)
        expect(error._tag).toBe("DisposedError")
        await rejection(durably.jobs.echo.trigger({ n: 2 }), DurablyError)
      })
    })

    // --- jobs: register / jobs / getJob ----------------------------------------------

    describe("register, jobs, getJob", () => {
      it("register() returns the handles and fills durably.jobs; a job registered after init() runs on the started worker", async () => {
        const late = defineJob({
          name: "late-job",
          input: Schema.Struct({ word: Schema.String }),
          output: Schema.Struct({ upper: Schema.String }),
          run: async (step, input) => ({ upper: await step.run("upper", () => input.word.toUpperCase()) })
        })
        const worker = open({ jobs: { echo }, workerId: "worker-with-late-job" })
        await worker.init()
        const handles = worker.register({ late })
        expect(handles.late.name).toBe("late-job")
        expect(worker.getJob("late-job")).toBe(handles.late)
        expect((worker.jobs as Record<string, unknown>)["late"]).toBe(handles.late)
        expect(Object.keys(worker.jobs).sort()).toEqual(["echo", "late"])

        // The run comes from another instance that never starts a worker, and the
        // started worker gets no further call: only its registration lets it run it.
        const leased = deferred<EventOf<"run:leased">>()
        worker.on("run:leased", (event) => leased.resolve(event))
        const producer = open({ jobs: { late } })
        await producer.migrate()
        const run = await producer.jobs.late.trigger({ word: "hi" })
        const done = await within(producer.waitForRun(run.id), "the late job's run")
        expect(done.status).toBe("completed")
        expect(done.output).toEqual({ upper: "HI" })
        const event = await within(leased.promise, "run:leased")
        expect(event).toMatchObject({ runId: run.id, leaseOwner: "worker-with-late-job" })
      })

      it("register() before init(), the same job again is a no-op, another job under a used name is a ValidationError", async () => {
        const durably = open()
        expect(Object.keys(durably.jobs)).toEqual([])
        const handles = durably.register({ echo })
        expect(durably.register({ echo }).echo).toBe(handles.echo)
        const impostor = defineJob({ name: "echo", input: Schema.Struct({}), run: async () => {} })
        const error = thrown(() => durably.register({ impostor }), ValidationError)
        expect(error.statusCode).toBe(400)
        expect(error.issues.some((issue) => issue.path.includes("jobs"))).toBe(true)
        // The original stays registered.
        expect(durably.getJob("echo")).toBe(handles.echo)
        await durably.init()
        expect((await within(handles.echo.triggerAndWait({ n: 4 }), "echo")).output).toEqual({ doubled: 8 })
      })

      it("getJob() returns the handle by job name, or null", async () => {
        const durably = open({ jobs: { echo, other } })
        expect(durably.getJob("echo")).toBe(durably.jobs.echo)
        expect(durably.getJob("other")?.name).toBe("other")
        expect(durably.getJob("no-such-job")).toBeNull()
        // By job name, not by the key in `jobs`.
        const renamed = open({ jobs: { myEcho: echo } })
        expect(renamed.getJob("myEcho")).toBeNull()
        expect(renamed.getJob("echo")).toBe(renamed.jobs.myEcho)
      })
    })

    // --- listeners -------------------------------------------------------------------

    describe("on, onError", () => {
      it("on() returns an unsubscribe function; after it the listener gets no more events", async () => {
        const durably = open({ jobs: { echo } })
        await durably.init()
        const seenByFirst: Array<string> = []
        const unsubscribe = durably.on("run:complete", (event) => seenByFirst.push(event.runId))
        const recorder = record(durably)

        const a = await durably.jobs.echo.trigger({ n: 1 })
        await recorder.next(isEvent("run:complete", a.id), "run a to complete")
        expect(seenByFirst).toEqual([a.id])

        unsubscribe()
        const b = await durably.jobs.echo.trigger({ n: 2 })
        // Listeners are called in event order, so once the recorder has b's completion, so would the first.
        await recorder.next(isEvent("run:complete", b.id), "run b to complete")
        expect(seenByFirst).toEqual([a.id])
      })

      it("a throwing listener does not break the run; onError receives what it threw and the event", async () => {
        const durably = open({ jobs: { echo } })
        const reported: Array<{ readonly error: unknown; readonly type: string }> = []
        durably.onError((error, event) => reported.push({ error, type: event.type }))
        const boom = new Error("listener boom")
        durably.on("step:start", () => {
          throw boom
        })
        const recorder = record(durably)
        await durably.init()
        const result = await within(durably.jobs.echo.triggerAndWait({ n: 3 }), "echo")
        expect(result.output).toEqual({ doubled: 6 })
        await recorder.next(isEvent("run:complete", result.id), "run:complete")
        expect(reported).toEqual([{ error: boom, type: "step:start" }])
        expect((await durably.getRun(result.id))?.status).toBe("completed")
      })
    })

    // --- reads -----------------------------------------------------------------------

    describe("getRun, getRuns, getSteps, getLogs", () => {
      it("getRun() returns the run, or null for an unknown id", async () => {
        const durably = open({ jobs: { echo } })
        const run = await durably.jobs.echo.trigger({ n: 7 }, { labels: { team: "a" } })
        const read = await durably.getRun(run.id)
        expect(read).toMatchObject({
          id: run.id,
          jobName: "echo",
          status: "pending",
          input: { n: 7 },
          labels: { team: "a" },
          output: null,
          error: null,
          progress: null,
          attempt: 0,
          startedAt: null,
          completedAt: null
        })
        expect(read?.createdAt).toBeInstanceOf(Date)
        expect(read?.updatedAt).toBeInstanceOf(Date)
        expect(await durably.getRun("01NOSUCHRUN000000000000000")).toBeNull()
      })

      it("getRuns() filters by status, jobName (one or many), labels, and pages with limit/offset, newest first", async () => {
        const durably = open({ jobs: { echo, other } })
        const r1 = await durably.jobs.echo.trigger({ n: 1 }, { labels: { team: "a", env: "prod" } })
        const r2 = await durably.jobs.echo.trigger({ n: 2 }, { labels: { team: "b" } })
        const r3 = await durably.jobs.other.trigger({ tag: "x" }, { labels: { team: "a" } })
        const r4 = await durably.jobs.other.trigger({ tag: "y" })
        await durably.cancel(r4.id)
        expect(await durably.processOne()).toBe(true) // the oldest: r1
        const ids = async (filter?: Parameters<typeof durably.getRuns>[0]) =>
          (await durably.getRuns(filter)).map((run) => run.id)

        expect((await durably.getRun(r1.id))?.status).toBe("completed")
        expect(await ids()).toEqual([r4.id, r3.id, r2.id, r1.id])
        expect(await ids({ status: "pending" })).toEqual([r3.id, r2.id])
        expect(await ids({ status: ["completed", "cancelled"] })).toEqual([r4.id, r1.id])
        expect(await ids({ status: "failed" })).toEqual([])
        expect(await ids({ jobName: "echo" })).toEqual([r2.id, r1.id])
        expect(await ids({ jobName: ["echo", "other"] })).toEqual([r4.id, r3.id, r2.id, r1.id])
        expect(await ids({ jobName: "nobody" })).toEqual([])
        expect(await ids({ labels: { team: "a" } })).toEqual([r3.id, r1.id])
        expect(await ids({ labels: { team: "a", env: "prod" } })).toEqual([r1.id])
        expect(await ids({ labels: { team: "c" } })).toEqual([])
        expect(await ids({ limit: 2 })).toEqual([r4.id, r3.id])
        expect(await ids({ limit: 2, offset: 1 })).toEqual([r3.id, r2.id])
        expect(await ids({ offset: 3 })).toEqual([r1.id])
        expect(await ids({ jobName: "echo", status: "pending" })).toEqual([r2.id])
        const completed = await durably.getRuns({ status: "completed" })
        expect(completed[0]?.output).toEqual({ doubled: 2 })
      })

      it("getSteps() and getLogs() list a run's steps and log entries in order", async () => {
        const stepped = defineJob({
          name: "stepped",
          input: Schema.Struct({}),
          run: async (step) => {
            await step.run("first", () => ({ a: 1 }))
            await step.run("second", () => {
              step.log.warn("careful", { x: 1 })
              return "two"
            })
            step.log.info("done", { steps: 2 })
          }
        })
        const durably = open({ jobs: { stepped }, preserveSteps: true })
        const run = await durably.jobs.stepped.trigger({})
        expect(await durably.getSteps(run.id)).toEqual([])
        expect(await durably.processOne()).toBe(true)
        const steps = await durably.getSteps(run.id)
        expect(steps.map(({ runId, name, index, status, output, error }) => ({ runId, name, index, status, output, error }))).toEqual([
          { runId: run.id, name: "first", index: 0, status: "completed", output: { a: 1 }, error: null },
          { runId: run.id, name: "second", index: 1, status: "completed", output: "two", error: null }
        ])
        for (const step of steps) {
          expect(step.startedAt).toBeInstanceOf(Date)
          expect(step.completedAt.getTime()).toBeGreaterThanOrEqual(step.startedAt.getTime())
        }
        const logs = await durably.getLogs(run.id)
        expect(logs.map(({ runId, stepName, level, message, data }) => ({ runId, stepName, level, message, data }))).toEqual([
          { runId: run.id, stepName: "second", level: "warn", message: "careful", data: { x: 1 } },
          { runId: run.id, stepName: null, level: "info", message: "done", data: { steps: 2 } }
        ])
        expect(logs[0]?.createdAt).toBeInstanceOf(Date)
        expect(await durably.getSteps("01NOSUCHRUN000000000000000")).toEqual([])
        expect(await durably.getLogs("01NOSUCHRUN000000000000000")).toEqual([])
      })
    })

    // --- state changes ---------------------------------------------------------------

    describe("cancel, retry, retrigger, deleteRun, purgeRuns", () => {
      it("cancel() turns a pending run cancelled; cancelling a finished run is a ConflictError (409), an unknown one NotFoundError", async () => {
        const durably = open({ jobs: { echo } })
        const recorder = record(durably)
        const pending = await durably.jobs.echo.trigger({ n: 1 })
        const cancelled = await durably.cancel(pending.id)
        expect(cancelled).toMatchObject({ id: pending.id, status: "cancelled" })
        expect((await durably.getRun(pending.id))?.status).toBe("cancelled")
        await recorder.next(isEvent("run:cancel", pending.id), "run:cancel")
        // A cancelled run is never executed.
        expect(await durably.processOne()).toBe(false)

        const again = await rejection(durably.cancel(pending.id), ConflictError)
        expect(again).toMatchObject({ statusCode: 409, runId: pending.id, status: "cancelled" })

        const done = await durably.jobs.echo.trigger({ n: 2 })
        expect(await durably.processOne()).toBe(true)
        const conflict = await rejection(durably.cancel(done.id), ConflictError)
        expect(conflict).toMatchObject({ _tag: "ConflictError", statusCode: 409, runId: done.id, status: "completed" })
        expect(conflict).toBeInstanceOf(DurablyError)
        expect((await durably.getRun(done.id))?.status).toBe("completed")

        const missing = await rejection(durably.cancel("01NOSUCHRUN000000000000000"), NotFoundError)
        expect(missing.statusCode).toBe(404)
      })

      it("retry() puts a failed run back to pending with the same id, and it then completes", async () => {
        let attempts = 0
        const flaky = defineJob({
          name: "flaky",
          input: Schema.Struct({}),
          output: Schema.Struct({ attempts: Schema.Number }),
          run: async (step) => {
            const seen = await step.run("flaky-step", () => {
              attempts++
              if (attempts === 1) throw new Error("first attempt fails")
              return attempts
            })
            return { attempts: seen }
          }
        })
        const durably = open({ jobs: { flaky } })
        const recorder = record(durably)
        const run = await durably.jobs.flaky.trigger({})
        expect(await durably.processOne()).toBe(true)
        const failed = await durably.getRun(run.id)
        expect(failed).toMatchObject({ status: "failed", error: "first attempt fails" })

        const retried = await durably.retry(run.id)
        expect(retried).toMatchObject({ id: run.id, status: "pending", error: null })
        await recorder.next(isEvent("run:retry", run.id), "run:retry")
        expect(await durably.processOne()).toBe(true)
        const completed = await durably.getRun(run.id)
        expect(completed).toMatchObject({ id: run.id, status: "completed", output: { attempts: 2 }, attempt: 2 })
        expect(await durably.getRuns()).toHaveLength(1)

        const conflict = await rejection(durably.retry(run.id), ConflictError)
        expect(conflict.statusCode).toBe(409)
        await rejection(durably.retry("01NOSUCHRUN000000000000000"), NotFoundError)
      })

      it("retry() also puts a cancelled run back to pending", async () => {
        const durably = open({ jobs: { echo } })
        const run = await durably.jobs.echo.trigger({ n: 6 })
        await durably.cancel(run.id)
        expect(await durably.retry(run.id)).toMatchObject({ id: run.id, status: "pending" })
        expect(await durably.processOne()).toBe(true)
        expect(await durably.getRun(run.id)).toMatchObject({ status: "completed", output: { doubled: 12 } })
      })

      it("retrigger() makes a new run of the same job with the same input and labels", async () => {
        const durably = open({ jobs: { echo } })
        const original = await durably.jobs.echo.trigger({ n: 5 }, { labels: { source: "test" }, idempotencyKey: "once" })
        expect(await durably.processOne()).toBe(true)
        const again = await durably.retrigger(original.id)
        expect(again.id).not.toBe(original.id)
        expect(again).toMatchObject({
          jobName: "echo",
          status: "pending",
          input: { n: 5 },
          labels: { source: "test" },
          disposition: "created"
        })
        expect(await durably.processOne()).toBe(true)
        expect(await durably.getRun(again.id)).toMatchObject({ status: "completed", output: { doubled: 10 } })
        expect(await durably.getRun(original.id)).toMatchObject({ status: "completed", output: { doubled: 10 } })
        expect((await durably.getRuns()).map((run) => run.id)).toEqual([again.id, original.id])
        await rejection(durably.retrigger("01NOSUCHRUN000000000000000"), NotFoundError)
      })

      it("deleteRun() removes the run, its steps and logs; an unknown id is a NotFoundError (404)", async () => {
        const logging = defineJob({
          name: "logging",
          input: Schema.Struct({}),
          run: async (step) => {
            await step.run("only", () => {
              step.log.info("hello")
              return 1
            })
          }
        })
        const durably = open({ jobs: { logging, echo }, preserveSteps: true })
        const recorder = record(durably)
        const run = await durably.jobs.logging.trigger({})
        const kept = await durably.jobs.echo.trigger({ n: 1 })
        expect(await durably.processUntilIdle()).toBe(2)
        expect(await durably.getSteps(run.id)).toHaveLength(1)
        expect(await durably.getLogs(run.id)).toHaveLength(1)

        await expect(durably.deleteRun(run.id)).resolves.toBeUndefined()
        expect(await durably.getRun(run.id)).toBeNull()
        expect(await durably.getSteps(run.id)).toEqual([])
        expect(await durably.getLogs(run.id)).toEqual([])
        expect((await durably.getRuns()).map((r) => r.id)).toEqual([kept.id])
        await recorder.next(isEvent("run:delete", run.id), "run:delete")

        const missing = await rejection(durably.deleteRun(run.id), NotFoundError)
        expect(missing).toMatchObject({ _tag: "NotFoundError", statusCode: 404, id: run.id })
        await rejection(durably.deleteRun("01NOSUCHRUN000000000000000"), NotFoundError)
      })

      it("purgeRuns({ olderThan, limit }) deletes finished runs completed before olderThan and returns how many", async () => {
        const durably = open({ jobs: { echo } })
        const finished = [
          await durably.jobs.echo.trigger({ n: 1 }),
          await durably.jobs.echo.trigger({ n: 2 }),
          await durably.jobs.echo.trigger({ n: 3 })
        ]
        expect(await durably.processUntilIdle()).toBe(3)
        const pending = await durably.jobs.echo.trigger({ n: 4 })

        expect(await durably.purgeRuns({ olderThan: new Date(Date.now() - 60_000) })).toBe(0)
        const future = new Date(Date.now() + 60_000)
        expect(await durably.purgeRuns({ olderThan: future, limit: 2 })).toBe(2)
        expect(await durably.getRuns()).toHaveLength(2)
        expect(await durably.purgeRuns({ olderThan: future })).toBe(1)
        expect(await durably.purgeRuns({ olderThan: future })).toBe(0)
        expect((await durably.getRuns()).map((run) => run.id)).toEqual([pending.id])
        for (const run of finished) expect(await durably.getRun(run.id)).toBeNull()
      })
    })

    // --- waiting and following ---------------------------------------------------------

    describe("waitForRun", () => {
      it("resolves with the completed run", async () => {
        const durably = open({ jobs: { echo } })
        const run = await durably.jobs.echo.trigger({ n: 8 })
        const waiting = durably.waitForRun(run.id)
        await durably.init()
        const done = await within(waiting, "the run")
        expect(done).toMatchObject({ id: run.id, status: "completed", output: { doubled: 16 } })
        // On a finished run it resolves at once.
        expect((await durably.waitForRun(run.id)).status).toBe("completed")
      })

      it("rejects with JobFailedError (runId, error, failedStepName) for a failing job", async () => {
        const durably = open({ jobs: { exploding } })
        await durably.init()
        const run = await durably.jobs.exploding.trigger({})
        const error = await within(rejection(durably.waitForRun(run.id), JobFailedError), "the failure")
        expect(error).toBeInstanceOf(DurablyError)
        expect(error).toMatchObject({ _tag: "JobFailedError", runId: run.id, failedStepName: "explode" })
        expect(error.error).toContain("kaboom")
        expect(await durably.getRun(run.id)).toMatchObject({ status: "failed" })
        // triggerAndWait rejects the same way.
        const viaHandle = await within(rejection(durably.jobs.exploding.triggerAndWait({}), JobFailedError), "the failure")
        expect(viaHandle.failedStepName).toBe("explode")
        expect(viaHandle.runId).not.toBe(run.id)
      })

      it("rejects with CancelledError for a run cancelled while waiting, and for an already cancelled run", async () => {
        const durably = open({ jobs: { echo } })
        const run = await durably.jobs.echo.trigger({ n: 1 })
        const waiting = rejection(durably.waitForRun(run.id), CancelledError)
        await durably.cancel(run.id)
        const error = await within(waiting, "the cancellation")
        expect(error).toMatchObject({ _tag: "CancelledError", runId: run.id })
        expect(error).toBeInstanceOf(DurablyError)
        const late = await rejection(durably.waitForRun(run.id), CancelledError)
        expect(late.runId).toBe(run.id)
        await rejection(durably.waitForRun("01NOSUCHRUN000000000000000"), NotFoundError)
      })

      it("rejects with WaitTimeoutError (408) after `timeout`; the run goes on", async () => {
        const durably = open({ jobs: { echo } })
        const run = await durably.jobs.echo.trigger({ n: 2 })
        const started = Date.now()
        const error = await within(rejection(durably.waitForRun(run.id, { timeout: 60 }), WaitTimeoutError), "the timeout")
        expect(Date.now() - started).toBeGreaterThanOrEqual(50)
        expect(error).toBeInstanceOf(DurablyError)
        expect(error).toMatchObject({ _tag: "WaitTimeoutError", statusCode: 408, runId: run.id, timeoutMs: 60 })
        expect((await durably.getRun(run.id))?.status).toBe("pending")
        expect(await durably.processOne()).toBe(true)
        expect((await durably.waitForRun(run.id, { timeout: 5_000 })).output).toEqual({ doubled: 4 })
      })

      it("passes the run's progress to onProgress and its log entries to onLog", async () => {
        const reporting = defineJob({
          name: "reporting",
          input: Schema.Struct({}),
          run: async (step) => {
            step.progress(1, 2, "half")
            await step.run("work", () => {
              step.log.info("working", { i: 1 })
              return 1
            })
            step.progress(2, 2, "done")
          }
        })
        const durably = open({ jobs: { reporting, echo } })
        const noise = await durably.jobs.echo.trigger({ n: 1 })
        const run = await durably.jobs.reporting.trigger({})
        const progress: Array<Progress> = []
        const logs: Array<EventOf<"log:write">> = []
        const waiting = durably.waitForRun(run.id, {
          onProgress: (p) => {
            progress.push(p)
          },
          onLog: (log) => {
            logs.push(log)
          }
        })
        expect(await durably.processUntilIdle()).toBe(2)
        expect((await within(waiting, "the run")).status).toBe("completed")
        expect(progress).toEqual([
          { current: 1, total: 2, message: "half" },
          { current: 2, total: 2, message: "done" }
        ])
        expect(logs.map(({ runId, stepName, level, message, data }) => ({ runId, stepName, level, message, data }))).toEqual([
          { runId: run.id, stepName: "work", level: "info", message: "working", data: { i: 1 } }
        ])
        expect((await durably.getRun(noise.id))?.status).toBe("completed")
        expect((await durably.getRun(run.id))?.progress).toEqual({ current: 2, total: 2, message: "done" })
      })
    })

    describe("subscribe", () => {
      it("streams one run's events in order and closes after its terminal event", async () => {
        const durably = open({ jobs: { echo } })
        const before = await durably.jobs.echo.trigger({ n: 1 })
        const run = await durably.jobs.echo.trigger({ n: 2 })
        const stream = durably.subscribe(run.id)
        const events = readAll(stream)
        expect(await durably.processUntilIdle()).toBe(2)
        const seen = await events
        expect(seen.map((event) => event.type)).toEqual(["run:leased", "step:start", "step:complete", "run:complete"])
        expect(seen.every((event) => event.runId === run.id)).toBe(true)
        expect(seen.some((event) => event.runId === before.id)).toBe(false)
        expect(seen[3]).toMatchObject({ type: "run:complete", output: { doubled: 4 } })
      })

      it("on a finished run emits its terminal event and closes", async () => {
        const durably = open({ jobs: { echo } })
        const ok = await durably.jobs.echo.trigger({ n: 3 })
        expect(await durably.processOne()).toBe(true)
        const completed = await readAll(durably.subscribe(ok.id))
        expect(completed).toHaveLength(1)
        expect(completed[0]).toMatchObject({ type: "run:complete", runId: ok.id, jobName: "echo", output: { doubled: 6 } })
        const cancelledRun = await durably.jobs.echo.trigger({ n: 4 })
        await durably.cancel(cancelledRun.id)
        const cancelled = await readAll(durably.subscribe(cancelledRun.id))
        expect(cancelled.map((event) => [event.type, event.runId])).toEqual([["run:cancel", cancelledRun.id]])
      })

      it("on a run that failed in a step emits the same run:fail (error, failedStepName) and closes", async () => {
        const durably = open({ jobs: { exploding } })
        const recorder = record(durably)
        const bad = await durably.jobs.exploding.trigger({})
        expect(await durably.processOne()).toBe(true)
        const live = await recorder.next(isEvent("run:fail", bad.id), "the live run:fail")
        expect(live).toMatchObject({ failedStepName: "explode" })
        const failed = await readAll(durably.subscribe(bad.id))
        expect(failed).toHaveLength(1)
        const late = failed[0]
        if (late?.type !== "run:fail") throw new Error(`expected run:fail, got ${late?.type}`)
        expect(late).toMatchObject({ runId: bad.id, jobName: "exploding" })
        expect(late.error).toContain("kaboom")
        // As the run emitted it (and as waitForRun's JobFailedError reports it).
        expect(late.failedStepName).toBe("explode")
      })

      it("on an unknown run the reader's read() rejects with NotFoundError", async () => {
        const durably = open({ jobs: { echo } })
        await durably.migrate()
        const reader = durably.subscribe("01NOSUCHRUN000000000000000").getReader()
        const error = await within(rejection(reader.read(), NotFoundError), "the stream error")
        expect(error).toMatchObject({ statusCode: 404, id: "01NOSUCHRUN000000000000000" })
      })
    })

    describe("processOne, processUntilIdle", () => {
      it("processOne() → false when nothing is due, true after processing one run", async () => {
        const durably = open({ jobs: { echo } })
        expect(await durably.processOne()).toBe(false)
        const a = await durably.jobs.echo.trigger({ n: 1 })
        const b = await durably.jobs.echo.trigger({ n: 2 })
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(a.id))?.status).toBe("completed")
        expect((await durably.getRun(b.id))?.status).toBe("pending")
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(b.id))?.status).toBe("completed")
        expect(await durably.processOne()).toBe(false)
      })

      it("processUntilIdle({ maxRuns }) returns how many runs it processed", async () => {
        const durably = open({ jobs: { echo, exploding } })
        expect(await durably.processUntilIdle()).toBe(0)
        await durably.jobs.echo.trigger({ n: 1 })
        await durably.jobs.exploding.trigger({})
        await durably.jobs.echo.trigger({ n: 3 })
        expect(await durably.processUntilIdle({ maxRuns: 2 })).toBe(2)
        expect(await durably.getRuns({ status: "pending" })).toHaveLength(1)
        expect(await durably.processUntilIdle()).toBe(1)
        expect(await durably.processUntilIdle()).toBe(0)
        expect((await durably.getRuns({ status: "completed" })).length).toBe(2)
        expect((await durably.getRuns({ status: "failed" })).length).toBe(1)
      })
    })

    // --- job handles -------------------------------------------------------------------

    describe("job handles", () => {
      it("name, and trigger() → the pending run with disposition 'created'", async () => {
        const durably = open({ jobs: { echo } })
        expect(durably.jobs.echo.name).toBe("echo")
        const recorder = record(durably)
        const run = await durably.jobs.echo.trigger({ n: 1 }, { labels: { k: "v" }, concurrencyKey: "c1" })
        expect(run).toMatchObject({
          jobName: "echo",
          status: "pending",
          input: { n: 1 },
          labels: { k: "v" },
          concurrencyKey: "c1",
          idempotencyKey: null,
          disposition: "created"
        })
        expect(typeof run.id).toBe("string")
        const event = await recorder.next(isEvent("run:trigger", run.id), "run:trigger")
        expect(event).toMatchObject({ jobName: "echo", input: { n: 1 }, labels: { k: "v" } })
        expect(event.timestamp).toBeInstanceOf(Date)
      })

      it("the same idempotencyKey returns the same run with disposition 'idempotent' and no second run:trigger", async () => {
        const durably = open({ jobs: { echo } })
        const recorder = record(durably)
        const first = await durably.jobs.echo.trigger({ n: 1 }, { idempotencyKey: "key-1" })
        const second = await durably.jobs.echo.trigger({ n: 2 }, { idempotencyKey: "key-1" })
        expect(first.disposition).toBe("created")
        expect(second).toMatchObject({ id: first.id, disposition: "idempotent", input: { n: 1 } })
        // Events arrive in order: once the sentinel's run:trigger is seen, a second one for key-1 would have been too.
        const sentinel = await durably.jobs.echo.trigger({ n: 3 })
        await recorder.next(isEvent("run:trigger", sentinel.id), "the sentinel's run:trigger")
        expect(recorder.events.filter((event) => event.type === "run:trigger").map((event) => event.runId)).toEqual([
          first.id,
          sentinel.id
        ])
        expect(await durably.getRuns()).toHaveLength(2)
      })

      it("coalesce 'skip' with a concurrencyKey that has a pending run returns that run, disposition 'coalesced'", async () => {
        const durably = open({ jobs: { echo } })
        const recorder = record(durably)
        const a = await durably.jobs.echo.trigger({ n: 1 }, { concurrencyKey: "res" })
        const b = await durably.jobs.echo.trigger({ n: 2 }, { concurrencyKey: "res", coalesce: "skip" })
        expect(b).toMatchObject({ id: a.id, disposition: "coalesced", input: { n: 1 }, status: "pending" })
        const coalesced = await recorder.next(isEvent("run:coalesced", a.id), "run:coalesced")
        expect(coalesced.jobName).toBe("echo")
        expect(await durably.getRuns()).toHaveLength(1)

        // Without coalesce a trigger queues behind it.
        const c = await durably.jobs.echo.trigger({ n: 3 }, { concurrencyKey: "res" })
        expect(c.disposition).toBe("created")
        expect(c.id).not.toBe(a.id)
        // A running (no longer pending) run is not coalesced into; the pending one is.
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(a.id))?.status).toBe("completed")
        const d = await durably.jobs.echo.trigger({ n: 4 }, { concurrencyKey: "res", coalesce: "skip" })
        expect(d).toMatchObject({ id: c.id, disposition: "coalesced" })
        expect(await durably.processUntilIdle()).toBe(1)
        // Nothing pending with the key: a new run.
        const e = await durably.jobs.echo.trigger({ n: 5 }, { concurrencyKey: "res", coalesce: "skip" })
        expect(e.disposition).toBe("created")
        expect(await durably.getRuns()).toHaveLength(3)
      })

      it("trigger() of a completed run's idempotencyKey returns it with its output decoded (Schema.Date as a Date)", async () => {
        const dated = defineJob({
          name: "dated",
          input: Schema.Struct({ ms: Schema.Number }),
          output: Schema.Struct({ at: Schema.Date }),
          run: async (step, input) => ({ at: new Date(await step.run("at", () => input.ms)) })
        })
        const durably = open({ jobs: { dated } })
        await durably.init()
        const first = await within(durably.jobs.dated.triggerAndWait({ ms: 86_400_000 }, { idempotencyKey: "day" }), "the first run")
        // The instance is open now, so this trigger is the one done at once (SQLite) as well.
        const again = await durably.jobs.dated.trigger({ ms: 0 }, { idempotencyKey: "day" })
        expect(again).toMatchObject({ id: first.id, disposition: "idempotent", status: "completed", input: { ms: 86_400_000 } })
        expect(again.output?.at).toEqual(new Date(86_400_000))
      })

      it("a trigger runs the input's validator once, before and after the instance is open", async () => {
        let calls = 0
        const counted: StandardSchemaV1<{ n: number }, { n: number }> = {
          "~standard": {
            version: 1,
            vendor: "test",
            validate: (value) => {
              calls++
              return { value: value as { n: number } }
            }
          }
        }
        const countedJob = defineJob({ name: "counted", input: counted, run: async () => {} })
        const durably = open({ jobs: { countedJob } })
        await durably.jobs.countedJob.trigger({ n: 1 })
        expect(calls).toBe(1)
        await durably.jobs.countedJob.trigger({ n: 2 })
        expect(calls).toBe(2)
        expect(await durably.getRuns()).toHaveLength(2)
      })

      it("a validator that throws rejects trigger()'s promise with what it threw, before and after the instance is open, and stores nothing", async () => {
        const throwing: StandardSchemaV1<{ n: number }, { n: number }> = {
          "~standard": {
            version: 1,
            vendor: "test",
            validate: () => {
              throw new Error("validator broke")
            }
          }
        }
        const fragile = defineJob({ name: "fragile", input: throwing, run: async () => {} })
        const durably = open({ jobs: { fragile, echo } })
        for (const when of ["before", "after"]) {
          let pending: Promise<unknown> | undefined
          expect(() => {
            pending = durably.jobs.fragile.trigger({ n: 1 })
          }, when).not.toThrow()
          const error = await rejection(pending ?? Promise.resolve(), Error)
          expect(error.message, when).toBe("validator broke")
          // Opened by now: the second round goes the way of a trigger on an open instance.
          await durably.jobs.echo.trigger({ n: 1 })
        }
        expect((await durably.getRuns()).map((run) => run.jobName)).toEqual(["echo", "echo"])
      })

      it("triggerAndWait() → { id, output, disposition }", async () => {
        const durably = open({ jobs: { echo } })
        await durably.init()
        const result = await within(durably.jobs.echo.triggerAndWait({ n: 21 }, { idempotencyKey: "tw" }), "triggerAndWait")
        expect(result).toEqual({ id: expect.any(String), output: { doubled: 42 }, disposition: "created" })
        expect(await durably.getRun(result.id)).toMatchObject({ status: "completed", output: { doubled: 42 } })
        const again = await within(durably.jobs.echo.triggerAndWait({ n: 99 }, { idempotencyKey: "tw" }), "triggerAndWait")
        expect(again).toEqual({ id: result.id, output: { doubled: 42 }, disposition: "idempotent" })
        // With the worker stopped, the wait gives up after `timeout`.
        await durably.stop()
        const timedOut = await within(
          rejection(durably.jobs.echo.triggerAndWait({ n: 1 }, { timeout: 40 }), WaitTimeoutError),
          "the timeout"
        )
        expect(timedOut).toMatchObject({ statusCode: 408, timeoutMs: 40 })
        expect((await durably.getRun(timedOut.runId))?.status).toBe("pending")
      })

      it("batchTrigger([{ input, options }]) → runs in input order with their dispositions", async () => {
        const durably = open({ jobs: { echo } })
        const recorder = record(durably)
        const results = await durably.jobs.echo.batchTrigger([
          { input: { n: 1 } },
          { input: { n: 2 }, options: { idempotencyKey: "dup", labels: { batch: "yes" } } },
          { input: { n: 3 }, options: { idempotencyKey: "dup" } },
          { input: { n: 4 } }
        ])
        expect(results.map((run) => run.disposition)).toEqual(["created", "created", "idempotent", "created"])
        expect(results.map((run) => run.input)).toEqual([{ n: 1 }, { n: 2 }, { n: 2 }, { n: 4 }])
        expect(results[2]?.id).toBe(results[1]?.id)
        expect(results[1]?.labels).toEqual({ batch: "yes" })
        const [r0, r1, , r3] = results
        if (r0 === undefined || r1 === undefined || r3 === undefined) throw new Error("missing batch results")
        expect(new Set([r0.id, r1.id, r3.id]).size).toBe(3)
        expect(await durably.getRuns()).toHaveLength(3)
        const sentinel = await durably.jobs.echo.trigger({ n: 5 })
        await recorder.next(isEvent("run:trigger", sentinel.id), "the sentinel's run:trigger")
        expect(recorder.events.filter((event) => event.type === "run:trigger").map((event) => event.runId)).toEqual([
          r0.id,
          r1.id,
          r3.id,
          sentinel.id
        ])
        // Trigger order is claim order.
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(r0.id))?.status).toBe("completed")
      })

      it("getRun() → the run of this job, null for another job's run or an unknown id; getRuns() lists only this job's runs", async () => {
        const durably = open({ jobs: { echo, other } })
        const mine = await durably.jobs.echo.trigger({ n: 1 })
        const theirs = await durably.jobs.other.trigger({ tag: "t" })
        expect(await durably.jobs.echo.getRun(mine.id)).toMatchObject({ id: mine.id, jobName: "echo", status: "pending" })
        expect(await durably.jobs.echo.getRun(theirs.id)).toBeNull()
        expect(await durably.jobs.other.getRun(theirs.id)).toMatchObject({ id: theirs.id })
        expect(await durably.jobs.echo.getRun("01NOSUCHRUN000000000000000")).toBeNull()
        const mine2 = await durably.jobs.echo.trigger({ n: 2 })
        expect(await durably.processOne()).toBe(true)
        expect((await durably.jobs.echo.getRuns()).map((run) => run.id)).toEqual([mine2.id, mine.id])
        expect((await durably.jobs.echo.getRuns({ status: "completed" })).map((run) => run.id)).toEqual([mine.id])
        expect((await durably.jobs.echo.getRun(mine.id))?.output).toEqual({ doubled: 2 })
        expect((await durably.jobs.other.getRuns()).map((run) => run.id)).toEqual([theirs.id])
      })
    })

    // --- schemas -----------------------------------------------------------------------

    describe("schemas", () => {
      it("zod 4: bad input is a ValidationError (400) naming the field, nothing stored; z.coerce.date() output comes back as a Date", async () => {
        const zodJob = defineJob({
          name: "zod-job",
          input: z.object({ email: z.email(), count: z.number().int() }),
          output: z.object({ at: z.coerce.date(), count: z.number() }),
          run: async (step, input) => {
            const iso = await step.run("stamp", () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)).toISOString())
            return { at: new Date(iso), count: input.count }
          }
        })
        const durably = open({ jobs: { zodJob } })
        const badEmail = await rejection(durably.jobs.zodJob.trigger({ email: "not-an-email", count: 1 }), ValidationError)
        expect(badEmail).toMatchObject({ _tag: "ValidationError", statusCode: 400 })
        expect(badEmail).toBeInstanceOf(DurablyError)
        expect(badEmail.issues.map((issue) => issue.path)).toContainEqual(["email"])
        const badCount = await rejection(durably.jobs.zodJob.trigger({ email: "a@example.com", count: 1.5 }), ValidationError)
        expect(badCount.issues.map((issue) => issue.path)).toEqual([["count"]])
        await rejection(durably.jobs.zodJob.batchTrigger([{ input: { email: "a@example.com", count: 1 } }, { input: { email: "x", count: 1 } }]), ValidationError)
        expect(await durably.getRuns()).toEqual([])

        await durably.init()
        const result = await within(durably.jobs.zodJob.triggerAndWait({ email: "a@example.com", count: 3 }), "zod job")
        expect(result.output.at).toBeInstanceOf(Date)
        expect(result.output.at.toISOString()).toBe("2024-01-02T03:04:05.000Z")
        expect(result.output.count).toBe(3)
        const read = await durably.jobs.zodJob.getRun(result.id)
        expect(read?.output?.at).toBeInstanceOf(Date)
        expect(read?.output?.at.getTime()).toBe(Date.UTC(2024, 0, 2, 3, 4, 5))
        const waited = await durably.waitForRun(result.id)
        expect((waited.output as { at: unknown }).at).toBeInstanceOf(Date)
      })

      it("valibot: bad input is a ValidationError with the bad field's path, nothing stored; good input runs", async () => {
        const valibotJob = defineJob({
          name: "valibot-job",
          input: v.object({ name: v.pipe(v.string(), v.minLength(3)), tags: v.array(v.string()) }),
          output: v.object({ greeting: v.string() }),
          run: async (step, input) => ({ greeting: await step.run("greet", () => `hi ${input.name} ${input.tags.join(",")}`) })
        })
        const durably = open({ jobs: { valibotJob } })
        const short = await rejection(durably.jobs.valibotJob.trigger({ name: "ab", tags: [] }), ValidationError)
        expect(short.statusCode).toBe(400)
        expect(short.issues.map((issue) => issue.path)).toEqual([["name"]])
        const badTag = await rejection(
          durably.jobs.valibotJob.trigger({ name: "abc", tags: ["ok", 7 as unknown as string] }),
          ValidationError
        )
        expect(badTag.issues.map((issue) => issue.path)).toEqual([["tags", 1]])
        expect(await durably.getRuns()).toEqual([])
        await durably.init()
        const result = await within(durably.jobs.valibotJob.triggerAndWait({ name: "ada", tags: ["x", "y"] }), "valibot job")
        expect(result.output).toEqual({ greeting: "hi ada x,y" })
      })

      it("a validator that answers asynchronously: bad input is a ValidationError with its path, good input is stored as validated and runs", async () => {
        // A Standard Schema whose `validate` returns a promise (as zod does for async refinements).
        const positive: StandardSchemaV1<{ n: number }, { n: number }> = {
          "~standard": {
            version: 1,
            vendor: "test",
            validate: async (value) => {
              await new Promise((resolve) => setTimeout(resolve, 1))
              const n = typeof value === "object" && value !== null && "n" in value ? value.n : undefined
              return typeof n === "number" && n > 0 ? { value: { n } } : { issues: [{ message: "n must be positive", path: ["n"] }] }
            }
          }
        }
        const asyncJob = defineJob({
          name: "async-validated",
          input: positive,
          output: Schema.Struct({ doubled: Schema.Number }),
          run: async (step, input) => ({ doubled: await step.run("double", () => input.n * 2) })
        })
        const durably = open({ jobs: { asyncJob } })
        const bad = await rejection(durably.jobs.asyncJob.trigger({ n: -1 }), ValidationError)
        expect(bad.issues).toEqual([{ path: ["n"], message: "n must be positive" }])
        expect(await durably.getRuns()).toEqual([])
        // Extra fields are dropped by the validator: what is stored is its output.
        const run = await durably.jobs.asyncJob.trigger({ n: 4, extra: true } as { n: number })
        expect((await durably.getRun(run.id))?.input).toEqual({ n: 4 })
        await durably.init()
        const result = await within(durably.waitForRun(run.id), "async-validated job")
        expect(result.output).toEqual({ doubled: 8 })
      })

      it("Effect Schema: bad input is a ValidationError naming the field; Schema.Date round-trips as a Date", async () => {
        const effectJob = defineJob({
          name: "effect-job",
          input: Schema.Struct({ n: Schema.Number, since: Schema.Date }),
          output: Schema.Struct({ at: Schema.Date, n: Schema.Number }),
          run: async (step, input) => {
            // The job sees the decoded input: `since` is a Date here.
            const ms = await step.run("later", () => input.since.getTime() + 1000)
            return { at: new Date(ms), n: input.n }
          }
        })
        const durably = open({ jobs: { effectJob } })
        const since = new Date(Date.UTC(2023, 5, 1))
        const bad = await rejection(
          durably.jobs.effectJob.trigger({ n: "x" as unknown as number, since }),
          ValidationError
        )
        expect(bad).toMatchObject({ _tag: "ValidationError", statusCode: 400 })
        expect(bad.issues.map((issue) => issue.path)).toEqual([["n"]])
        expect(await durably.getRuns()).toEqual([])

        await durably.init()
        const result = await within(durably.jobs.effectJob.triggerAndWait({ n: 2, since }), "effect job")
        expect(result.output.at).toBeInstanceOf(Date)
        expect(result.output.at.getTime()).toBe(since.getTime() + 1000)
        expect(result.output.n).toBe(2)
        const read = await durably.jobs.effectJob.getRun(result.id)
        expect(read?.output?.at).toBeInstanceOf(Date)
        expect(read?.output?.at.getTime()).toBe(since.getTime() + 1000)
        const viaInstance = await durably.getRun(result.id)
        expect((viaInstance?.output as { at: unknown }).at).toBeInstanceOf(Date)
        // Inputs are returned as stored (encoded).
        expect(read?.input).toEqual({ n: 2, since: since.toISOString() })
      })

      it("an output that fails the output schema fails the run (JobFailedError mentioning the output)", async () => {
        const liar = defineJob({
          name: "liar",
          input: z.object({}),
          output: z.object({ total: z.number() }),
          run: async () => ({ total: "many" }) as unknown as { total: number }
        })
        const durably = open({ jobs: { liar } })
        await durably.init()
        const error = await within(rejection(durably.jobs.liar.triggerAndWait({}), JobFailedError), "the failure")
        expect(error.error).toMatch(/output/)
        expect(await durably.getRun(error.runId)).toMatchObject({ status: "failed", output: null })
      })
    })

    // --- errors -------------------------------------------------------------------------

    describe("errors", () => {
      it("every error class is a DurablyError with its _tag and statusCode", () => {
        const cases: Array<readonly [DurablyError, string, number]> = [
          [new NotFoundError({ entity: "run", id: "r" }), "NotFoundError", 404],
          [new ValidationError({ subject: "input", issues: [{ path: ["a"], message: "bad" }] }), "ValidationError", 400],
          [new ConflictError({ runId: "r", operation: "cancel", status: "completed" }), "ConflictError", 409],
          [new CancelledError({ runId: "r" }), "CancelledError", 409],
          [new LeaseLostError({ runId: "r", generation: 2 }), "LeaseLostError", 409],
          [new JobFailedError({ runId: "r", error: "e", failedStepName: "s" }), "JobFailedError", 500],
          [new WaitTimeoutError({ runId: "r", timeoutMs: 5 }), "WaitTimeoutError", 408],
          [new DuplicateStepError({ runId: "r", stepName: "s" }), "DuplicateStepError", 400],
          [new StoreError({ operation: "open", detail: "d" }), "StoreError", 503],
          [new CorruptRowError({ table: "durably_runs", runId: "r", detail: "d" }), "CorruptRowError", 500]
        ]
        for (const [error, tag, statusCode] of cases) {
          expect(error).toBeInstanceOf(DurablyError)
          expect(error).toBeInstanceOf(Error)
          expect(error._tag).toBe(tag)
          expect(error.name).toBe(tag)
          expect(error.statusCode).toBe(statusCode)
          expect(error.message.length).toBeGreaterThan(0)
        }
      })

      it("bad createDurably options throw ValidationError synchronously, naming the option", () => {
        const pathsOf = (options: Partial<DurablyOptions<Record<never, never>>>) => {
          const error = thrown(() => createDurably({ database: database(), ...options }), ValidationError)
          expect(error.statusCode).toBe(400)
          return error.issues.map((issue) => issue.path)
        }
        expect(pathsOf({ maxConcurrentRuns: 0 })).toContainEqual(["maxConcurrentRuns"])
        expect(pathsOf({ leaseMs: -1 })).toContainEqual(["leaseMs"])
        expect(pathsOf({ retainRuns: "soon" })).toContainEqual(["retainRuns"])
        expect(pathsOf({ database: "" })).toContainEqual(["database"])
        expect(pathsOf({ pollingIntervalMs: 1.5 })).toContainEqual(["pollingIntervalMs"])
        expect(pathsOf({ shutdownTimeoutMs: -5 })).toContainEqual(["shutdownTimeoutMs"])
        expect(pathsOf({ leaseMs: 1000, leaseRenewIntervalMs: 2000 })).toContainEqual(["leaseRenewIntervalMs"])
        // Good values pass.
        opened.push(createDurably({ database: database(), retainRuns: "30d", maxConcurrentRuns: 2, leaseMs: 1000, leaseRenewIntervalMs: 100 }))
      })
    })

    // --- AbortSignal ----------------------------------------------------------------------

    describe("AbortSignal", () => {
      it("cancelling a running run aborts its step's signal; the run ends cancelled and later steps never run", async () => {
        const started = deferred<AbortSignal>()
        let sawAbort = false
        let afterRuns = 0
        let jobSignal: AbortSignal | undefined
        const abortable = defineJob({
          name: "abortable",
          input: Schema.Struct({}),
          run: async (step) => {
            jobSignal = step.signal
            await step.run("before", () => "done")
            await step.run(
              "wait",
              (signal) =>
                new Promise<string>((_, reject) => {
                  signal.addEventListener(
                    "abort",
                    () => {
                      sawAbort = true
                      reject(signal.reason)
                    },
                    { once: true }
                  )
                  started.resolve(signal)
                })
            )
            await step.run("after", () => {
              afterRuns++
              return 1
            })
          }
        })
        const durably = open({ jobs: { abortable } })
        const recorder = record(durably)
        await durably.init()
        const run = await durably.jobs.abortable.trigger({})
        const signal = await within(started.promise, "the step to start")
        expect(signal.aborted).toBe(false)
        expect((await durably.getRun(run.id))?.status).toBe("leased")
        expect((await durably.getSteps(run.id)).map((step) => step.name)).toEqual(["before"])
        // A leased run cannot be deleted.
        const busy = await rejection(durably.deleteRun(run.id), ConflictError)
        expect(busy).toMatchObject({ statusCode: 409, status: "leased" })

        const cancelled = await durably.cancel(run.id)
        expect(cancelled).toMatchObject({ id: run.id, status: "cancelled" })
        expect(signal.aborted).toBe(true)
        expect(sawAbort).toBe(true)
        expect(jobSignal?.aborted).toBe(true)

        await recorder.next(isEvent("run:cancel", run.id), "run:cancel")
        const types = recorder.events.filter((event) => event.runId === run.id).map((event) => event.type)
        expect(types).toEqual([
          "run:trigger",
          "run:leased",
          "step:start",
          "step:complete",
          "step:start",
          "step:cancel",
          "run:cancel"
        ])
        const stepCancel = recorder.events.find(isEvent("step:cancel", run.id))
        expect(stepCancel).toMatchObject({ stepName: "wait", stepIndex: 1 })
        // preserveSteps false: cancelling the leased run deleted its completed steps.
        expect(await durably.getSteps(run.id)).toEqual([])
        await rejection(durably.waitForRun(run.id), CancelledError)
        await sleep(100) // a few polling intervals: nothing picks the run up again
        expect(await durably.getRun(run.id)).toMatchObject({ status: "cancelled" })
        expect(afterRuns).toBe(0)
        expect(recorder.events.some((event) => event.type === "step:start" && event.stepName === "after")).toBe(false)
      })
    })

    // --- events in order -------------------------------------------------------------------

    describe("events", () => {
      it("a 3-step run emits its events in order, with stepName/stepIndex, progress and log fields", async () => {
        const three = defineJob({
          name: "three",
          input: Schema.Struct({ x: Schema.Number }),
          output: Schema.Struct({ sum: Schema.Number }),
          run: async (step, input) => {
            const a = await step.run("one", () => input.x + 1)
            step.progress(1, 3, "one done")
            const b = await step.run("two", () => {
              step.log.info("inside two", { a })
              return a + 1
            })
            step.progress(2, 3)
            const c = await step.run("three", () => b + 1)
            return { sum: a + b + c }
          }
        })
        const durably = open({ jobs: { three }, workerId: "events-worker" })
        const recorder = record(durably)
        const run = await durably.jobs.three.trigger({ x: 0 }, { labels: { l: "1" } })
        expect(await durably.processOne()).toBe(true)
        await recorder.next(isEvent("run:complete", run.id), "run:complete")
        const events = recorder.events.filter((event) => event.runId === run.id)
        expect(events.map((event) => event.type)).toEqual([
          "run:trigger",
          "run:leased",
          "step:start",
          "step:complete",
          "run:progress",
          "step:start",
          "log:write",
          "step:complete",
          "run:progress",
          "step:start",
          "step:complete",
          "run:complete"
        ])
        expect(recorder.events.filter((event) => event.type === "worker:error")).toEqual([])
        for (const event of events) {
          expect(event.jobName).toBe("three")
          expect(event.timestamp).toBeInstanceOf(Date)
        }
        for (let i = 1; i < events.length; i++) {
          expect(events[i]?.timestamp.getTime()).toBeGreaterThanOrEqual(events[i - 1]?.timestamp.getTime() ?? 0)
        }
        const stepEvents = events.flatMap((event) =>
          event.type === "step:start" || event.type === "step:complete"
            ? [{ type: event.type, stepName: event.stepName, stepIndex: event.stepIndex }]
            : []
        )
        expect(stepEvents).toEqual([
          { type: "step:start", stepName: "one", stepIndex: 0 },
          { type: "step:complete", stepName: "one", stepIndex: 0 },
          { type: "step:start", stepName: "two", stepIndex: 1 },
          { type: "step:complete", stepName: "two", stepIndex: 1 },
          { type: "step:start", stepName: "three", stepIndex: 2 },
          { type: "step:complete", stepName: "three", stepIndex: 2 }
        ])
        expect(events.filter((event) => event.type === "step:complete").map((event) => event.type === "step:complete" && event.output)).toEqual([1, 2, 3])
        expect(events[0]).toMatchObject({ type: "run:trigger", input: { x: 0 }, labels: { l: "1" } })
        expect(events[1]).toMatchObject({ type: "run:leased", leaseOwner: "events-worker", attempt: 1 })
        const leased = events[1]
        if (leased?.type !== "run:leased") throw new Error("expected run:leased")
        expect(leased.leaseExpiresAt).toBeInstanceOf(Date)
        expect(leased.leaseExpiresAt.getTime()).toBeGreaterThan(leased.timestamp.getTime())
        expect(events[4]).toMatchObject({ type: "run:progress", progress: { current: 1, total: 3, message: "one done" } })
        const secondProgress = events[8]
        if (secondProgress?.type !== "run:progress") throw new Error("expected run:progress")
        expect(secondProgress.progress).toEqual({ current: 2, total: 3 })
        expect(events[6]).toMatchObject({ type: "log:write", level: "info", message: "inside two", data: { a: 1 }, stepName: "two" })
        const complete = events[11]
        if (complete?.type !== "run:complete") throw new Error("expected run:complete")
        expect(complete.output).toEqual({ sum: 6 })
        expect(complete.durationMs).toBeGreaterThanOrEqual(0)
      })
    })

    // --- preserveSteps -------------------------------------------------------------------

    describe("preserveSteps", () => {
      const twoSteps = defineJob({
        name: "two-steps",
        input: Schema.Struct({}),
        run: async (step) => {
          await step.run("a", () => "A")
          await step.run("b", () => "B")
        }
      })

      it("true: getSteps after completion still lists the completed steps", async () => {
        const durably = open({ jobs: { twoSteps }, preserveSteps: true })
        const run = await durably.jobs.twoSteps.trigger({})
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(run.id))?.status).toBe("completed")
        expect((await durably.getSteps(run.id)).map(({ name, status, output }) => ({ name, status, output }))).toEqual([
          { name: "a", status: "completed", output: "A" },
          { name: "b", status: "completed", output: "B" }
        ])
      })

      it("false (default): the completed steps are gone after completion", async () => {
        const durably = open({ jobs: { twoSteps } })
        const run = await durably.jobs.twoSteps.trigger({})
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(run.id))?.status).toBe("completed")
        expect(await durably.getSteps(run.id)).toEqual([])
      })

      const resumable = (counts: Map<string, number>) => {
        const ran = (name: string) => {
          const n = (counts.get(name) ?? 0) + 1
          counts.set(name, n)
          return n
        }
        return defineJob({
          name: "resumable",
          input: Schema.Struct({}),
          output: Schema.Struct({ a: Schema.Number, b: Schema.Number, c: Schema.Number }),
          run: async (step) => {
            const a = await step.run("a", () => ran("a"))
            const b = await step.run("b", () => {
              const n = ran("b")
              if (n === 1) throw new Error("b fails once")
              return n
            })
            const c = await step.run("c", () => ran("c"))
            return { a, b, c }
          }
        })
      }

      it("true: retry() resumes after the last completed step", async () => {
        const counts = new Map<string, number>()
        const durably = open({ jobs: { resumable: resumable(counts) }, preserveSteps: true })
        const run = await durably.jobs.resumable.trigger({})
        expect(await durably.processOne()).toBe(true)
        const failed = await rejection(durably.waitForRun(run.id), JobFailedError)
        expect(failed.failedStepName).toBe("b")
        expect((await durably.getSteps(run.id)).map(({ name, status }) => ({ name, status }))).toEqual([
          { name: "a", status: "completed" },
          { name: "b", status: "failed" }
        ])
        await durably.retry(run.id)
        expect(await durably.processOne()).toBe(true)
        expect(await durably.getRun(run.id)).toMatchObject({ status: "completed", output: { a: 1, b: 2, c: 1 } })
        expect(Object.fromEntries(counts)).toEqual({ a: 1, b: 2, c: 1 })
      })

      it("false: retry() starts over", async () => {
        const counts = new Map<string, number>()
        const durably = open({ jobs: { resumable: resumable(counts) } })
        const run = await durably.jobs.resumable.trigger({})
        expect(await durably.processOne()).toBe(true)
        expect((await durably.getRun(run.id))?.status).toBe("failed")
        await durably.retry(run.id)
        expect(await durably.processOne()).toBe(true)
        expect(await durably.getRun(run.id)).toMatchObject({ status: "completed", output: { a: 2, b: 2, c: 1 } })
        expect(Object.fromEntries(counts)).toEqual({ a: 2, b: 2, c: 1 })
      })
    })

    // --- shutdown -----------------------------------------------------------------------

    describe("stop and dispose", () => {
      const stuckJob = (state: { first: number; slow: number; slowStarted: Deferred<void> }) =>
        defineJob({
          name: "stuck",
          input: Schema.Struct({}),
          output: Schema.Struct({ slow: Schema.String }),
          run: async (step) => {
            await step.run("first", () => {
              state.first++
              return 1
            })
            const slow = await step.run("slow", (signal) => {
              state.slow++
              if (state.slow > 1) return "fast"
              state.slowStarted.resolve()
              return sleepUnlessAborted(20_000, signal)
            })
            return { slow }
          }
        })

      // A step interrupted mid-body keeps the run's lease until it expires (its body may not have stopped).
      const shortLease = { leaseMs: 1_000, leaseRenewIntervalMs: 200 }

      it("stop() with shutdownTimeoutMs interrupts a run stuck in a long step and leaves it resumable once its lease expired", async () => {
        const state = { first: 0, slow: 0, slowStarted: deferred() }
        const durably = open({ jobs: { stuck: stuckJob(state) }, shutdownTimeoutMs: 50, ...shortLease })
        await durably.init()
        const run = await durably.jobs.stuck.trigger({})
        await within(state.slowStarted.promise, "the slow step to start")
        const before = Date.now()
        await durably.stop()
        expect(Date.now() - before).toBeLessThan(5_000)
        const after = await durably.getRun(run.id)
        expect(after).toMatchObject({ status: "leased", leaseGeneration: 1 })
        // Shutdown keeps the completed steps even with preserveSteps false.
        expect((await durably.getSteps(run.id)).map(({ name, status }) => ({ name, status }))).toEqual([
          { name: "first", status: "completed" }
        ])
        await durably.start()
        const done = await within(durably.waitForRun(run.id), "the resumed run")
        expect(done.output).toEqual({ slow: "fast" })
        expect(state).toMatchObject({ first: 1, slow: 2 })
      })

      it("dispose() returns promptly mid-step, and a new instance on the same database completes the run", async () => {
        const state = { first: 0, slow: 0, slowStarted: deferred() }
        const job = stuckJob(state)
        const first = open({ jobs: { stuck: job }, shutdownTimeoutMs: 50, ...shortLease })
        await first.init()
        const run = await first.jobs.stuck.trigger({})
        await within(state.slowStarted.promise, "the slow step to start")
        const before = Date.now()
        await first.dispose()
        expect(Date.now() - before).toBeLessThan(5_000)

        const second = open({ jobs: { stuck: job } })
        expect(await second.getRun(run.id)).toMatchObject({ status: "leased", leaseGeneration: 1 })
        await second.init()
        const done = await within(second.waitForRun(run.id), "the resumed run")
        expect(done).toMatchObject({ status: "completed", output: { slow: "fast" }, attempt: 2 })
        expect(state).toMatchObject({ first: 1, slow: 2 })
      })
    })
  })
}
