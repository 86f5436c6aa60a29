// The example of upstream Durably's LLM documentation (`@coji/durably` 0.15,
// docs/llms.md), run through this project's Promise facade: the `sync-users`
// job with a zod input and output, its two steps over a fake users API and a
// fake database, and every call the document shows. The only change to the
// example is `database` in place of a Kysely `dialect`; where this project
// deliberately differs (a second trigger with a busy concurrency key queues
// instead of throwing `ConflictError`, SPEC §6), the test says so.
//
// The same body runs on SQLite (a temporary file) and on PostgreSQL (a schema
// of its own per test).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  CancelledError,
  ConflictError,
  createDurably,
  defineJob,
  DurablyError,
  JobFailedError,
  NotFoundError,
  ValidationError,
  WaitTimeoutError,
  eventTypes
} from "durably"
import type { DurablyEvent, EventOf, EventType, Progress, RunStatus } from "durably"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { z } from "zod"
import { admin, databaseUrl, pgAvailable, uniqueName, withSearchPath } from "../support/postgres.js"

// --- helpers -------------------------------------------------------------------

/** Polls `check` every 10 ms until it holds; fails naming `what` after `timeoutMs`. */
const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Lets the event loop turn a few times. `waitForRun` and `subscribe` start their
 * fiber synchronously and subscribe to the event bus before their first
 * asynchronous operation, so after this they are surely listening.
 */
const letSubscribersAttach = async (): Promise<void> => {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve))
}

/** A promise the test resolves by hand. */
interface Gate {
  readonly opened: Promise<void>
  readonly open: () => void
}
const makeGate = (): Gate => {
  let resolveGate: () => void = () => undefined
  const opened = new Promise<void>((resolve) => {
    resolveGate = resolve
  })
  return { opened, open: () => resolveGate() }
}

/** `wait`, or a rejection with the signal's reason once it aborts. */
const abortable = (wait: Promise<void>, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => reject(signal.reason)
    signal.addEventListener("abort", onAbort, { once: true })
    void wait.then(() => {
      signal.removeEventListener("abort", onAbort)
      resolve()
    })
  })

const pause = (ms: number, signal: AbortSignal) => abortable(new Promise((resolve) => setTimeout(resolve, ms)), signal)

/** Rejection of `promise`, for asserting on the error's fields. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection, but the promise resolved")
}

// --- the example: a users API, a database, the job ------------------------------

interface User {
  readonly id: string
  readonly name: string
  readonly orgId: string
}

/** How many users each organisation has (1 when not listed). */
const directory: Record<string, number> = { org_123: 3, org_456: 5 }
const userCount = (orgId: string): number => directory[orgId] ?? 1

/** Per-org gates: `hold(orgId)` makes that org's calls wait until its returned function is called. */
const makeHolds = () => {
  const gates = new Map<string, Gate>()
  return {
    get: (orgId: string) => gates.get(orgId),
    hold: (orgId: string): (() => void) => {
      const gate = makeGate()
      gates.set(orgId, gate)
      return gate.open
    },
    releaseAll: () => gates.forEach((gate) => gate.open())
  }
}

/** The users API the job fetches from: per-org holds, outages, and a record of calls and aborts. */
const makeApi = () => {
  const holds = makeHolds()
  const calls: Array<string> = []
  const aborted: Array<string> = []
  const down = new Set<string>(["org_broken"])
  return {
    calls,
    aborted,
    down,
    /** Makes `fetchUsers` for this org wait until the returned function is called. */
    hold: holds.hold,
    releaseAll: holds.releaseAll,
    fetchUsers: async (orgId: string, { signal }: { readonly signal: AbortSignal }): Promise<Array<User>> => {
      calls.push(orgId)
      const gate = holds.get(orgId)
      if (gate !== undefined) {
        signal.addEventListener("abort", () => aborted.push(orgId), { once: true })
        await abortable(gate.opened, signal)
      }
      if (down.has(orgId)) throw new Error(`users API unavailable for ${orgId}`)
      return Array.from({ length: userCount(orgId) }, (_, i) => ({ id: `${orgId}-u${i + 1}`, name: `user ${i + 1}`, orgId }))
    }
  }
}

/** The database the job saves into; every save records when it started and ended, per run. */
const makeDb = () => {
  const holds = makeHolds()
  const users = new Map<string, User>()
  const timeline: Array<{ readonly runId: string; readonly event: "start" | "end" }> = []
  const aborted: Array<string> = []
  return {
    users,
    timeline,
    aborted,
    /** Makes saving this org's users wait until the returned function is called. */
    hold: holds.hold,
    releaseAll: holds.releaseAll,
    upsertUsers: async (
      orgId: string,
      batch: ReadonlyArray<User>,
      { runId, signal }: { readonly runId: string; readonly signal: AbortSignal }
    ): Promise<void> => {
      timeline.push({ runId, event: "start" })
      const gate = holds.get(orgId)
      if (gate !== undefined) {
        signal.addEventListener("abort", () => aborted.push(orgId), { once: true })
        await abortable(gate.opened, signal)
      } else {
        // A write takes a moment, so two saves running at once would overlap in the timeline.
        await pause(30, signal)
      }
      for (const user of batch) users.set(user.id, user)
      timeline.push({ runId, event: "end" })
    }
  }
}

const allEventTypes = eventTypes

/** The example as the document writes it, over `database`. */
const makeExample = (database: string) => {
  const api = makeApi()
  const db = makeDb()

  const syncUsersJob = defineJob({
    name: "sync-users",
    input: z.object({ orgId: z.string() }),
    output: z.object({ syncedCount: z.number() }),
    run: async (step, input) => {
      const users = await step.run("fetch-users", async (signal) => await api.fetchUsers(input.orgId, { signal }))
      step.progress(1, 2, "fetched")
      step.log.info("fetched users", { count: users.length })

      await step.run("save-to-db", async (signal) => {
        step.log.info("saving users", { count: users.length })
        await db.upsertUsers(input.orgId, users, { runId: step.runId, signal })
      })
      step.progress(2, 2, "saved")

      return { syncedCount: users.length }
    }
  })

  const durably = createDurably({
    database,
    pollingIntervalMs: 50,
    // Upstream's example runs one at a time; with several slots, the concurrency-key
    // test shows the key (not the worker) serialising runs.
    maxConcurrentRuns: 4,
    leaseRenewIntervalMs: 5000,
    leaseMs: 30000,
    preserveSteps: false,
    retainRuns: "30d",
    jobs: {
      syncUsers: syncUsersJob
    }
  })

  // Every event this process sees, in order (the tests use it to wait for things).
  const seen: Array<DurablyEvent> = []
  for (const type of allEventTypes) durably.on(type, (event) => seen.push(event))

  const eventsOf = (runId: string) => seen.filter((event) => event.runId === runId)
  const sawEvent = (type: EventType, runId: string) => seen.some((event) => event.type === type && event.runId === runId)

  return { api, db, durably, syncUsersJob, seen, eventsOf, sawEvent }
}

type Example = ReturnType<typeof makeExample>

/** A short description of an event, for comparing sequences. */
const describeEvent = (event: DurablyEvent): string =>
  event.type.startsWith("step:") && "stepName" in event ? `${event.type} ${event.stepName}` : event.type

// --- backends ---------------------------------------------------------------------

interface Backend {
  /** A fresh, empty database for one test, and how to remove it afterwards. */
  readonly create: () => Promise<{ readonly database: string; readonly drop: () => Promise<void> }>
}

const sqlite: Backend = {
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), "durably-llms-"))
    return { database: join(dir, "local.db"), drop: async () => rmSync(dir, { recursive: true, force: true }) }
  }
}

const postgres: Backend = {
  create: async () => {
    const schema = uniqueName("llms")
    await admin(`CREATE SCHEMA "${schema}"`)
    return { database: withSearchPath(databaseUrl, schema), drop: () => admin(`DROP SCHEMA "${schema}" CASCADE`) }
  }
}

// --- the suite --------------------------------------------------------------------

const llmsExample = (backend: Backend) => {
  let example: Example
  let database: string
  let drop: () => Promise<void>

  beforeEach(async () => {
    ;({ database, drop } = await backend.create())
    example = makeExample(database)
    await example.durably.init()
  })

  afterEach(async () => {
    // Nothing left blocked, so dispose does not wait for a held run.
    example.api.releaseAll()
    example.db.releaseAll()
    await example.durably.dispose()
    await drop()
  })

  it("trigger returns the pending run with disposition 'created'; the worker completes it", async () => {
    const { durably, db } = example
    const syncUsers = durably.jobs.syncUsers

    const run = await syncUsers.trigger({ orgId: "org_123" })
    expect(run.id).toMatch(/\S+/)
    expect(run.status).toBe("pending")
    expect(run.disposition).toBe("created")
    expect(run).toMatchObject({ jobName: "sync-users", input: { orgId: "org_123" }, output: null, labels: {} })

    const done = await durably.waitForRun(run.id, { timeout: 10_000 })
    expect(done).toMatchObject({ id: run.id, status: "completed", output: { syncedCount: 3 }, error: null })
    expect(done.completedAt).toBeInstanceOf(Date)
    expect([...db.users.keys()].sort()).toEqual(["org_123-u1", "org_123-u2", "org_123-u3"])

    // Through the handle the output has the job's type.
    const typed = await syncUsers.getRun(run.id)
    expect(typed?.status).toBe("completed")
    expect(typed?.output?.syncedCount).toBe(3)
  })

  it("triggerAndWait resolves with the output and disposition; a timeout or a failure rejects with its own error", async () => {
    const { durably, api } = example
    const syncUsers = durably.jobs.syncUsers

    const result = await syncUsers.triggerAndWait({ orgId: "org_123" }, { timeout: 5000 })
    expect(result.output.syncedCount).toBe(3)
    expect(result.disposition).toBe("created")
    expect((await durably.getRun(result.id))?.status).toBe("completed")

    // Timing out gives up the wait, not the run.
    const release = api.hold("org_456")
    const timedOut = await rejectionOf(syncUsers.triggerAndWait({ orgId: "org_456" }, { timeout: 200 }))
    expect(timedOut).toBeInstanceOf(WaitTimeoutError)
    expect(timedOut).toBeInstanceOf(DurablyError)
    expect(timedOut).toMatchObject({ _tag: "WaitTimeoutError", statusCode: 408, timeoutMs: 200 })
    const heldId = (timedOut as WaitTimeoutError).runId
    expect((await durably.getRun(heldId))?.status).toBe("leased")
    release()
    expect((await durably.waitForRun(heldId, { timeout: 10_000 })).output).toEqual({ syncedCount: 5 })

    // A run that fails: JobFailedError with the stored error and the step it failed in.
    const failed = await rejectionOf(syncUsers.triggerAndWait({ orgId: "org_broken" }, { timeout: 10_000 }))
    expect(failed).toBeInstanceOf(JobFailedError)
    expect(failed).toMatchObject({ _tag: "JobFailedError", statusCode: 500, failedStepName: "fetch-users" })
    const failure = failed as JobFailedError
    expect(failure.error).toContain("users API unavailable for org_broken")
    const failedRun = await durably.getRun(failure.runId)
    expect(failedRun).toMatchObject({ status: "failed", output: null })
    expect(failedRun?.error).toContain("users API unavailable for org_broken")
  })

  it("an idempotency key returns the first run ('idempotent', same id) and adds no run and no run:trigger", async () => {
    const { durably, api, seen, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const first = await syncUsers.trigger({ orgId: "org_123" }, { idempotencyKey: "webhook-event-456" })
    expect(first.disposition).toBe("created")
    const again = await syncUsers.trigger({ orgId: "org_123" }, { idempotencyKey: "webhook-event-456" })
    expect(again.disposition).toBe("idempotent")
    expect(again.id).toBe(first.id)

    // Events arrive in order: once a later run's run:trigger is seen, a second one for `first` would have been too.
    const marker = await syncUsers.trigger({ orgId: "org_456" })
    await waitUntil("the marker run's run:trigger is delivered", () => sawEvent("run:trigger", marker.id))
    expect(seen.filter((event) => event.type === "run:trigger" && event.runId === first.id)).toHaveLength(1)

    await durably.waitForRun(first.id, { timeout: 10_000 })
    await durably.waitForRun(marker.id, { timeout: 10_000 })

    // After completion the key still names that run, now with its output.
    const late = await syncUsers.trigger({ orgId: "org_123" }, { idempotencyKey: "webhook-event-456" })
    expect(late).toMatchObject({ id: first.id, disposition: "idempotent", status: "completed", output: { syncedCount: 3 } })
    const waited = await syncUsers.triggerAndWait({ orgId: "org_123" }, { idempotencyKey: "webhook-event-456", timeout: 5000 })
    expect(waited).toEqual({ id: first.id, output: { syncedCount: 3 }, disposition: "idempotent" })

    expect((await syncUsers.getRuns()).map((run) => run.id).sort()).toEqual([first.id, marker.id].sort())
    expect(api.calls.filter((orgId) => orgId === "org_123")).toHaveLength(1)
  })

  it("runs sharing a concurrency key all complete, one at a time in trigger order, without blocking unrelated runs (queued, not ConflictError)", async () => {
    const { durably, db, seen, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    // The first keyed run holds the key inside save-to-db until released.
    const releaseFirst = db.hold("org_c1")
    const keyed = []
    for (const orgId of ["org_c1", "org_c2", "org_c3", "org_c4"]) {
      // Upstream 0.15 throws ConflictError for the second of these; here they queue (SPEC §6).
      const run = await syncUsers.trigger({ orgId }, { concurrencyKey: "org_shared" })
      expect(run).toMatchObject({ status: "pending", disposition: "created", concurrencyKey: "org_shared" })
      keyed.push(run)
    }
    const ids = keyed.map((run) => run.id)
    const [c1, c2, c3, c4] = ids
    if (c1 === undefined || c2 === undefined || c3 === undefined || c4 === undefined) throw new Error("four runs expected")

    await waitUntil("the first keyed run is saving", () => db.timeline.some((e) => e.runId === c1 && e.event === "start"))

    // While the key is held, an unrelated run goes through on another slot ...
    const free = await durably.jobs.syncUsers.triggerAndWait({ orgId: "org_free" }, { timeout: 10_000 })
    expect(free.output.syncedCount).toBe(1)
    // ... and the other keyed runs are still waiting.
    expect((await durably.getRun(c1))?.status).toBe("leased")
    const pending = await durably.getRuns({ status: "pending" })
    expect(pending.map((run) => run.id).sort()).toEqual([c2, c3, c4].sort())
    expect(db.timeline.filter((e) => ids.includes(e.runId))).toEqual([{ runId: c1, event: "start" }])

    releaseFirst()
    const done = await Promise.all(ids.map((id) => durably.waitForRun(id, { timeout: 15_000 })))
    expect(done.map((run) => [run.status, run.output])).toEqual([
      ["completed", { syncedCount: 1 }],
      ["completed", { syncedCount: 1 }],
      ["completed", { syncedCount: 1 }],
      ["completed", { syncedCount: 1 }]
    ])

    // Saves never overlapped and came in trigger order.
    expect(db.timeline.filter((e) => ids.includes(e.runId))).toEqual(
      ids.flatMap((runId) => [
        { runId, event: "start" },
        { runId, event: "end" }
      ])
    )
    // Whole runs were serialised: each keyed run was leased only after the previous one completed.
    await waitUntil("every run:complete is delivered", () => ids.every((id) => sawEvent("run:complete", id)))
    const position = (type: EventType, runId: string) =>
      seen.findIndex((event) => event.type === type && event.runId === runId)
    for (let i = 1; i < ids.length; i++) {
      const previous = ids[i - 1] ?? ""
      const current = ids[i] ?? ""
      expect(position("run:leased", current)).toBeGreaterThan(position("run:complete", previous))
    }
  })

  it("coalesce: 'skip' returns the key's pending run with disposition 'coalesced' and a run:coalesced event", async () => {
    const { durably, api, eventsOf, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    // The first run takes the key and stays leased (held in fetch-users).
    const release = api.hold("org_123")
    const first = await syncUsers.trigger({ orgId: "org_123" }, { concurrencyKey: "org_123" })
    await waitUntil("the first run is executing", () => sawEvent("step:start", first.id))

    // No pending run with the key yet (the first is leased): a new one is created, and waits.
    const second = await syncUsers.trigger({ orgId: "org_123" }, { concurrencyKey: "org_123", coalesce: "skip" })
    expect(second).toMatchObject({ disposition: "created", status: "pending" })
    expect(second.id).not.toBe(first.id)

    // Now one is pending: coalesced into it.
    const coalesced = await syncUsers.trigger({ orgId: "org_123" }, { concurrencyKey: "org_123", coalesce: "skip" })
    expect(coalesced.disposition).toBe("coalesced")
    expect(coalesced.id).toBe(second.id)
    expect(coalesced.status).toBe("pending")

    await waitUntil("run:coalesced is delivered", () => sawEvent("run:coalesced", second.id))
    expect(eventsOf(second.id).map((event) => event.type)).toEqual(["run:trigger", "run:coalesced"])

    release()
    await durably.waitForRun(first.id, { timeout: 10_000 })
    expect((await durably.waitForRun(second.id, { timeout: 10_000 })).output).toEqual({ syncedCount: 3 })
    expect((await syncUsers.getRuns()).map((run) => run.id).sort()).toEqual([first.id, second.id].sort())
  })

  it("labels are stored with the run and getRuns filters by status (one or several), job name, labels, limit and offset", async () => {
    const { durably, api, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers
    // Option 2 of the document: jobs registered later.
    const { auditLog } = durably.register({
      auditLog: defineJob({
        name: "audit-log",
        input: z.object({ orgId: z.string() }),
        run: async (step, input) => {
          await step.run("write-entry", () => `synced ${input.orgId}`)
        }
      })
    })
    // register returns the handles and also puts them on `durably.jobs` (untyped there: added after creation).
    expect((durably.jobs as Record<string, unknown>)["auditLog"]).toBe(auditLog)
    expect(durably.getJob("audit-log")).toBe(auditLog)

    const browser = await syncUsers.trigger({ orgId: "org_123" }, { labels: { source: "browser" } })
    const tenant = await syncUsers.trigger({ orgId: "org_123" }, { labels: { organizationId: "org_123", env: "prod" } })
    const broken = await syncUsers.trigger({ orgId: "org_broken" })
    const audit = await auditLog.trigger({ orgId: "org_123" })
    expect(browser.labels).toEqual({ source: "browser" })
    expect(tenant.labels).toEqual({ organizationId: "org_123", env: "prod" })

    for (const run of [browser, tenant, audit]) await durably.waitForRun(run.id, { timeout: 10_000 })
    expect(await rejectionOf(durably.waitForRun(broken.id, { timeout: 10_000 }))).toBeInstanceOf(JobFailedError)

    // One run leased (held), one pending behind it on the same key.
    const release = api.hold("org_456")
    const leased = await syncUsers.trigger({ orgId: "org_456" }, { concurrencyKey: "org_456" })
    await waitUntil("the held run is executing", () => sawEvent("step:start", leased.id))
    const queued = await syncUsers.trigger({ orgId: "org_456" }, { concurrencyKey: "org_456" })

    const ids = (runs: ReadonlyArray<{ readonly id: string }>) => runs.map((run) => run.id)
    const sorted = (values: ReadonlyArray<string>) => [...values].sort()

    expect(ids(await durably.getRuns({ status: "failed" }))).toEqual([broken.id])
    const active = await durably.getRuns({ status: ["pending", "leased"] })
    expect(sorted(ids(active))).toEqual(sorted([leased.id, queued.id]))
    expect(Object.fromEntries(active.map((run): [string, RunStatus] => [run.id, run.status]))).toEqual({
      [leased.id]: "leased",
      [queued.id]: "pending"
    })

    // Newest first.
    expect(ids(await durably.getRuns({ jobName: "sync-users", status: "completed", limit: 10, offset: 0 }))).toEqual([
      tenant.id,
      browser.id
    ])
    expect(ids(await durably.getRuns({ jobName: "audit-log" }))).toEqual([audit.id])
    expect(sorted(ids(await durably.getRuns({ jobName: ["sync-users", "audit-log"] })))).toEqual(
      sorted([browser.id, tenant.id, broken.id, audit.id, leased.id, queued.id])
    )
    expect(ids(await durably.getRuns({ jobName: "no-such-job" }))).toEqual([])

    expect(ids(await durably.getRuns({ labels: { source: "browser" } }))).toEqual([browser.id])
    expect(ids(await durably.getRuns({ labels: { organizationId: "org_123" } }))).toEqual([tenant.id])
    expect(ids(await durably.getRuns({ labels: { organizationId: "org_123", env: "prod" } }))).toEqual([tenant.id])
    expect(ids(await durably.getRuns({ labels: { organizationId: "org_123", env: "staging" } }))).toEqual([])

    // Pages of two cover every run once, in the same order as the whole list.
    const all = ids(await durably.getRuns())
    expect(all).toHaveLength(6)
    const pages = []
    for (let offset = 0; offset < 8; offset += 2) pages.push(ids(await durably.getRuns({ limit: 2, offset })))
    expect(pages.map((page) => page.length)).toEqual([2, 2, 2, 0])
    expect(pages.flat()).toEqual(all)

    // The handle's getRuns is limited to its job and typed.
    const completed = await syncUsers.getRuns({ status: "completed" })
    expect(completed.map((run) => run.output?.syncedCount)).toEqual([3, 3])
    expect(ids(await auditLog.getRuns())).toEqual([audit.id])

    release()
    await durably.waitForRun(leased.id, { timeout: 10_000 })
    await durably.waitForRun(queued.id, { timeout: 10_000 })
  })

  it("durably.on delivers run and step events, progress and logs in order, and a throwing listener breaks nothing", async () => {
    const { durably, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const log: Array<DurablyEvent> = []
    const record = (event: DurablyEvent) => log.push(event)
    const unsubscribers = [
      durably.on("run:trigger", record),
      durably.on("run:leased", record),
      durably.on("run:complete", record),
      durably.on("run:fail", record),
      durably.on("run:progress", record),
      durably.on("step:start", record),
      durably.on("step:complete", record),
      durably.on("log:write", record)
    ]
    const listenerErrors: Array<{ readonly error: unknown; readonly type: string }> = []
    durably.onError((error, event) => listenerErrors.push({ error, type: event.type }))
    const stopThrowing = durably.on("step:start", () => {
      throw new Error("listener bug")
    })

    const ok = await syncUsers.triggerAndWait({ orgId: "org_123" }, { labels: { source: "test" }, timeout: 10_000 })
    const failed = await rejectionOf(syncUsers.triggerAndWait({ orgId: "org_broken" }, { timeout: 10_000 }))
    expect(failed).toBeInstanceOf(JobFailedError)
    const failedId = (failed as JobFailedError).runId
    await waitUntil("both terminal events are delivered", () => sawEvent("run:complete", ok.id) && sawEvent("run:fail", failedId))

    const of = (runId: string) => log.filter((event) => event.runId === runId)
    expect(of(ok.id).map(describeEvent)).toEqual([
      "run:trigger",
      "run:leased",
      "step:start fetch-users",
      "step:complete fetch-users",
      "run:progress",
      "log:write",
      "step:start save-to-db",
      "log:write",
      "step:complete save-to-db",
      "run:progress",
      "run:complete"
    ])
    const find = <T extends EventType>(type: T, runId: string, index = 0): EventOf<T> => {
      const found = log.filter((event): event is EventOf<T> => event.type === type && event.runId === runId)[index]
      if (found === undefined) throw new Error(`no ${type} #${index} for ${runId}`)
      return found
    }
    expect(find("run:trigger", ok.id)).toMatchObject({ jobName: "sync-users", input: { orgId: "org_123" }, labels: { source: "test" } })
    const leased = find("run:leased", ok.id)
    expect(leased.attempt).toBe(1)
    expect(leased.leaseOwner).toMatch(/^worker-/)
    expect(leased.leaseExpiresAt.getTime()).toBeGreaterThan(leased.timestamp.getTime())
    expect(find("step:start", ok.id, 1)).toMatchObject({ stepName: "save-to-db", stepIndex: 1 })
    expect(find("step:complete", ok.id)).toMatchObject({
      stepName: "fetch-users",
      stepIndex: 0,
      output: [
        { id: "org_123-u1", name: "user 1", orgId: "org_123" },
        { id: "org_123-u2", name: "user 2", orgId: "org_123" },
        { id: "org_123-u3", name: "user 3", orgId: "org_123" }
      ]
    })
    expect([find("run:progress", ok.id, 0).progress, find("run:progress", ok.id, 1).progress]).toEqual([
      { current: 1, total: 2, message: "fetched" },
      { current: 2, total: 2, message: "saved" }
    ])
    expect(find("log:write", ok.id, 0)).toMatchObject({ level: "info", message: "fetched users", data: { count: 3 }, stepName: null })
    expect(find("log:write", ok.id, 1)).toMatchObject({ level: "info", message: "saving users", data: { count: 3 }, stepName: "save-to-db" })
    const complete = find("run:complete", ok.id)
    expect(complete.output).toEqual({ syncedCount: 3 })
    expect(complete.durationMs).toBeGreaterThanOrEqual(0)
    for (const event of of(ok.id)) expect(event.timestamp).toBeInstanceOf(Date)

    expect(of(failedId).map(describeEvent)).toEqual(["run:trigger", "run:leased", "step:start fetch-users", "run:fail"])
    const fail = find("run:fail", failedId)
    expect(fail.failedStepName).toBe("fetch-users")
    expect(fail.error).toContain("users API unavailable for org_broken")

    // The throwing listener went to onError for every step:start, and broke nothing.
    expect(listenerErrors.map(({ error, type }) => [type, error instanceof Error ? error.message : error])).toEqual([
      ["step:start", "listener bug"],
      ["step:start", "listener bug"],
      ["step:start", "listener bug"]
    ])

    // Unsubscribed listeners hear nothing more.
    stopThrowing()
    for (const unsubscribe of unsubscribers) unsubscribe()
    const before = log.length
    const later = await syncUsers.triggerAndWait({ orgId: "org_456" }, { timeout: 10_000 })
    await waitUntil("the later run's run:complete is delivered", () => sawEvent("run:complete", later.id))
    expect(log.length).toBe(before)
    expect(listenerErrors).toHaveLength(3)
  })

  it("getJob returns the registered handle by name, or null", async () => {
    const { durably } = example

    const job = durably.getJob("sync-users")
    expect(job).not.toBeNull()
    expect(job).toBe(durably.jobs.syncUsers)
    expect(job?.name).toBe("sync-users")
    expect(durably.getJob("no-such-job")).toBeNull()
    if (job === null) return

    const run = await job.trigger({ orgId: "org_123" })
    expect(run.disposition).toBe("created")
    expect((await durably.waitForRun(run.id, { timeout: 10_000 })).output).toEqual({ syncedCount: 3 })

    // Untyped input is validated against the job's zod schema.
    const invalid = await rejectionOf(job.trigger({ orgId: 42 }))
    expect(invalid).toBeInstanceOf(ValidationError)
    expect(invalid).toMatchObject({ statusCode: 400 })
    expect((invalid as ValidationError).issues.map((issue) => issue.path)).toEqual([["orgId"]])
  })

  it("waitForRun resolves with the completed run and reports its progress and logs; unknown runs are NotFoundError", async () => {
    const { durably, api, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const release = api.hold("org_123")
    const run = await syncUsers.trigger({ orgId: "org_123" })
    await waitUntil("the run is executing", () => sawEvent("step:start", run.id))

    const progress: Array<Progress> = []
    const logs: Array<string> = []
    const waiting = durably.waitForRun(run.id, {
      timeout: 10_000,
      onProgress: (p) => {
        progress.push(p)
      },
      onLog: (l) => {
        logs.push(`${l.level} ${l.message}`)
      }
    })
    await letSubscribersAttach()
    release()
    const completed = await waiting
    expect(completed).toMatchObject({ id: run.id, status: "completed", output: { syncedCount: 3 } })
    expect(progress).toEqual([
      { current: 1, total: 2, message: "fetched" },
      { current: 2, total: 2, message: "saved" }
    ])
    expect(logs).toEqual(["info fetched users", "info saving users"])

    // A finished run: at once.
    expect((await durably.waitForRun(run.id)).status).toBe("completed")

    const missing = await rejectionOf(durably.waitForRun("no-such-run", { timeout: 1000 }))
    expect(missing).toBeInstanceOf(NotFoundError)
    expect(missing).toMatchObject({ statusCode: 404, entity: "run", id: "no-such-run" })
  })

  it("subscribe streams a run's events until its terminal event, then closes", async () => {
    const { durably, api, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const release = api.hold("org_123")
    const run = await syncUsers.trigger({ orgId: "org_123" })
    await waitUntil("the run is executing", () => sawEvent("step:start", run.id))

    const reader = durably.subscribe(run.id).getReader()
    await letSubscribersAttach()
    release()
    const received: Array<DurablyEvent> = []
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      received.push(value)
    }
    expect(received.every((event) => event.runId === run.id)).toBe(true)
    expect(received.filter((event) => event.type !== "run:lease-renewed").map(describeEvent)).toEqual([
      "step:complete fetch-users",
      "run:progress",
      "log:write",
      "step:start save-to-db",
      "log:write",
      "step:complete save-to-db",
      "run:progress",
      "run:complete"
    ])
    const last = received.at(-1)
    expect(last?.type === "run:complete" ? last.output : undefined).toEqual({ syncedCount: 3 })

    // A finished run: its terminal event, then the stream closes.
    const finished = durably.subscribe(run.id).getReader()
    const first = await finished.read()
    expect(first.done).toBe(false)
    expect(first.value).toMatchObject({ type: "run:complete", runId: run.id, output: { syncedCount: 3 } })
    expect((await finished.read()).done).toBe(true)

    // An unknown run: the stream errors with NotFoundError.
    const unknown = await rejectionOf(durably.subscribe("no-such-run").getReader().read())
    expect(unknown).toBeInstanceOf(NotFoundError)
  })

  it("retrigger creates a fresh run (new id) with the same input and labels, without the idempotency key", async () => {
    const { durably, api } = example
    const syncUsers = durably.jobs.syncUsers

    const failed = await syncUsers.trigger(
      { orgId: "org_broken" },
      { labels: { organizationId: "org_broken", env: "prod" }, idempotencyKey: "nightly-1" }
    )
    expect(await rejectionOf(durably.waitForRun(failed.id, { timeout: 10_000 }))).toBeInstanceOf(JobFailedError)

    // The outage is over: retrigger the failed run.
    api.down.delete("org_broken")
    const again = await durably.retrigger(failed.id)
    expect(again.id).not.toBe(failed.id)
    expect(again).toMatchObject({
      disposition: "created",
      status: "pending",
      jobName: "sync-users",
      input: { orgId: "org_broken" },
      labels: { organizationId: "org_broken", env: "prod" },
      idempotencyKey: null
    })
    expect((await durably.waitForRun(again.id, { timeout: 10_000 })).output).toEqual({ syncedCount: 1 })
    expect((await durably.getRun(failed.id))?.status).toBe("failed")

    // A completed run can be retriggered too.
    const third = await durably.retrigger(again.id)
    expect(third.id).not.toBe(again.id)
    expect((await durably.waitForRun(third.id, { timeout: 10_000 })).status).toBe("completed")

    expect(await rejectionOf(durably.retrigger("no-such-run"))).toBeInstanceOf(NotFoundError)
  })

  it("cancel stops a leased run (its step's signal aborts) or a pending one; waiting rejects with CancelledError; cancelling again is a ConflictError", async () => {
    const { durably, api, db, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    // Held in save-to-db, so fetch-users has a stored output; a second run with the key waits.
    db.hold("org_123")
    const leased = await syncUsers.trigger({ orgId: "org_123" }, { concurrencyKey: "org_123" })
    await waitUntil("the run is saving", () => db.timeline.some((e) => e.runId === leased.id && e.event === "start"))
    const pending = await syncUsers.trigger({ orgId: "org_456" }, { concurrencyKey: "org_123" })
    expect((await durably.getSteps(leased.id)).map((step) => [step.name, step.status])).toEqual([["fetch-users", "completed"]])

    const waiting = rejectionOf(durably.waitForRun(leased.id, { timeout: 10_000 }))
    const cancelledPending = await durably.cancel(pending.id)
    expect(cancelledPending).toMatchObject({ id: pending.id, status: "cancelled" })
    const cancelled = await durably.cancel(leased.id)
    expect(cancelled).toMatchObject({ id: leased.id, status: "cancelled" })

    const error = await waiting
    expect(error).toBeInstanceOf(CancelledError)
    expect(error).toMatchObject({ _tag: "CancelledError", statusCode: 409, runId: leased.id })
    await waitUntil("the step's signal is aborted", () => db.aborted.includes("org_123"))
    await waitUntil("run:cancel is delivered", () => sawEvent("run:cancel", leased.id) && sawEvent("run:cancel", pending.id))

    // With preserveSteps false the cancelled run's stored steps are gone; the pending one never ran.
    expect(await durably.getSteps(leased.id)).toEqual([])
    expect(api.calls).not.toContain("org_456")
    expect(db.timeline.filter((e) => e.runId === leased.id)).toEqual([{ runId: leased.id, event: "start" }])
    expect((await durably.getRun(leased.id))?.status).toBe("cancelled")
    expect((await durably.getRuns({ status: "cancelled" })).map((run) => run.id).sort()).toEqual([leased.id, pending.id].sort())
    expect(await rejectionOf(durably.waitForRun(pending.id))).toBeInstanceOf(CancelledError)

    const conflict = await rejectionOf(durably.cancel(leased.id))
    expect(conflict).toBeInstanceOf(ConflictError)
    expect(conflict).toMatchObject({ statusCode: 409, runId: leased.id, status: "cancelled" })
    expect(await rejectionOf(durably.cancel("no-such-run"))).toBeInstanceOf(NotFoundError)
  })

  it("deleteRun removes a finished run; a leased run cannot be deleted; an unknown one is NotFoundError", async () => {
    const { durably, api, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const done = await syncUsers.triggerAndWait({ orgId: "org_123" }, { timeout: 10_000 })
    await durably.deleteRun(done.id)
    expect(await durably.getRun(done.id)).toBeNull()
    expect(await syncUsers.getRun(done.id)).toBeNull()
    expect(await durably.getSteps(done.id)).toEqual([])
    expect(await durably.getRuns()).toEqual([])
    await waitUntil("run:delete is delivered", () => sawEvent("run:delete", done.id))
    const again = await rejectionOf(durably.deleteRun(done.id))
    expect(again).toBeInstanceOf(NotFoundError)
    expect(again).toMatchObject({ entity: "run", id: done.id })

    const release = api.hold("org_456")
    const busy = await syncUsers.trigger({ orgId: "org_456" })
    await waitUntil("the run is executing", () => sawEvent("step:start", busy.id))
    expect(await rejectionOf(durably.deleteRun(busy.id))).toBeInstanceOf(ConflictError)
    expect((await durably.getRun(busy.id))?.status).toBe("leased")
    release()
    await durably.waitForRun(busy.id, { timeout: 10_000 })
    await durably.deleteRun(busy.id)
    expect(await durably.getRun(busy.id)).toBeNull()
  })

  it("purgeRuns deletes finished runs completed before the cutoff, at most `limit`, never active ones", async () => {
    const { durably, api, sawEvent } = example
    const syncUsers = durably.jobs.syncUsers

    const a = await syncUsers.triggerAndWait({ orgId: "org_123" }, { timeout: 10_000 })
    const b = await syncUsers.triggerAndWait({ orgId: "org_456" }, { timeout: 10_000 })
    const c = await rejectionOf(syncUsers.triggerAndWait({ orgId: "org_broken" }, { timeout: 10_000 }))
    expect(c).toBeInstanceOf(JobFailedError)
    const release = api.hold("org_held")
    const active = await syncUsers.trigger({ orgId: "org_held" })
    await waitUntil("the run is executing", () => sawEvent("step:start", active.id))

    // The document's call: nothing is 30 days old.
    expect(await durably.purgeRuns({ olderThan: new Date(Date.now() - 30 * 24 * 60 * 60 * 1000), limit: 500 })).toBe(0)
    expect(await durably.getRuns()).toHaveLength(4)

    const cutoff = new Date(Date.now() + 60_000)
    expect(await durably.purgeRuns({ olderThan: cutoff, limit: 1 })).toBe(1)
    expect(await durably.getRuns()).toHaveLength(3)
    expect(await durably.purgeRuns({ olderThan: cutoff })).toBe(2)
    expect((await durably.getRuns()).map((run) => [run.id, run.status])).toEqual([[active.id, "leased"]])
    for (const id of [a.id, b.id, (c as JobFailedError).runId]) expect(await durably.getRun(id)).toBeNull()

    release()
    await durably.waitForRun(active.id, { timeout: 10_000 })
    expect(await durably.purgeRuns({ olderThan: new Date(Date.now() + 60_000) })).toBe(1)
    expect(await durably.getRuns()).toEqual([])
  })

  it("dispose closes the instance (later calls reject); the runs stay in the database for the next instance", async () => {
    const { durably } = example
    const done = await durably.jobs.syncUsers.triggerAndWait({ orgId: "org_123" }, { timeout: 10_000 })

    await durably.dispose()
    await durably.dispose()
    const rejected = await rejectionOf(durably.getRun(done.id))
    expect(rejected).toBeInstanceOf(DurablyError)
    expect(rejected).toMatchObject({ _tag: "DisposedError" })
    expect(await rejectionOf(durably.jobs.syncUsers.trigger({ orgId: "org_123" }))).toBeInstanceOf(DurablyError)

    const reopened = makeExample(database)
    try {
      await reopened.durably.init()
      const run = await reopened.durably.jobs.syncUsers.getRun(done.id)
      expect(run).toMatchObject({ id: done.id, status: "completed", output: { syncedCount: 3 } })
      expect((await reopened.durably.jobs.syncUsers.triggerAndWait({ orgId: "org_456" }, { timeout: 10_000 })).output).toEqual({
        syncedCount: 5
      })
    } finally {
      await reopened.durably.dispose()
    }
  })
}

describe("the llms.md example on SQLite", () => llmsExample(sqlite))

describe.skipIf(!pgAvailable)("the llms.md example on PostgreSQL", () => llmsExample(postgres))
