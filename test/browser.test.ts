// @durably/browser in real Chromium: the Promise facade on SQLite in OPFS,
// reloaded mid-run, shared by two tabs, and refused with a typed error where
// it cannot open. The page (test/browser/fixture) records every step body's
// start and every step:complete it sees in localStorage, which survives
// reloads and is shared by the tabs: a completed step that started again
// would show as a start after its completion.
import type { BrowserContext, Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { Probe } from "./browser/fixture/main.js"
import type { Served } from "./support/chromium.js"
import {
  chromiumPath,
  cleanUp,
  exampleRoot,
  fixtureRoot,
  freshProfile,
  insecureHost,
  killBrowser,
  launch,
  serve
} from "./support/chromium.js"

type Method = keyof Probe
type Result<K extends Method> = Awaited<ReturnType<Probe[K]>>

/** Calls `probe[method](...args)` in the page. */
const call = <K extends Method>(page: Page, method: K, ...args: Parameters<Probe[K]>): Promise<Result<K>> =>
  page.evaluate(
    ([name, values]) => {
      const probe = (globalThis as unknown as { probe: Record<string, (...args: Array<unknown>) => unknown> }).probe
      return probe[name]!(...values)
    },
    [method, args] as const
  ) as Promise<Result<K>>

const roleOf = (page: Page) => call(page, "role")

/** Waits until the page's instance is open with `role`. */
const opened = (page: Page, role: "owner" | "follower", timeout = 20_000) =>
  expect.poll(() => roleOf(page).catch(() => undefined), { timeout, interval: 50 }).toBe(role)

/** Log entries of one run: `start:<step>` and `complete:<step>`, and marks. */
const entriesOf = (log: ReadonlyArray<string>, runId: string) =>
  log.flatMap((entry) => {
    if (entry.startsWith("mark:")) return [entry]
    const [kind, id, step] = entry.split(":")
    return id === runId ? [`${kind}:${step}`] : []
  })

/** Steps that started again after they had completed (must be none). */
const restartedAfterCompletion = (entries: ReadonlyArray<string>) => {
  const completed = new Set<string>()
  const restarted: Array<string> = []
  for (const entry of entries) {
    const [kind, step] = entry.split(":")
    if (kind === "complete") completed.add(step!)
    if (kind === "start" && completed.has(step!)) restarted.push(step!)
  }
  return restarted
}

const completedSteps = async (page: Page, runId: string) =>
  (await call(page, "steps", runId)).filter((step) => step.status === "completed").map((step) => step.name)

/** Waits until at least `count` steps of the run are stored (a slow poll may see one more). */
const stepsDone = (page: Page, runId: string, count: number) =>
  expect
    .poll(async () => (await completedSteps(page, runId)).length, { timeout: 20_000, interval: 20 })
    .toBeGreaterThanOrEqual(count)

describe.skipIf(chromiumPath === undefined)("@durably/browser in Chromium", () => {
  let served: Served
  let context: BrowserContext | undefined

  beforeAll(async () => {
    served = await serve(fixtureRoot)
  }, 180_000)

  afterEach(async () => {
    await context?.close()
    context = undefined
  })

  afterAll(async () => {
    await served?.close()
    cleanUp()
  })

  const newPage = async (query = "") => {
    context ??= await launch()
    const page = await context.newPage()
    page.on("pageerror", (error) => console.error(`[page] ${error.message}`))
    await page.goto(`${served.url}${query}`)
    return page
  }

  it("a run interrupted by a reload mid-step resumes at its next step, and no completed step runs again", async () => {
    const page = await newPage("?auto=reload")
    await opened(page, "owner")
    const runId = await call(page, "trigger", 8, 250)
    await stepsDone(page, runId, 3)
    await call(page, "mark", "reload")
    await page.reload()
    await opened(page, "owner")

    const waited = await call(page, "wait", runId)
    expect(waited).toMatchObject({ ok: true, run: { status: "completed", output: { total: 28 } } })
    expect(await completedSteps(page, runId)).toEqual(["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"])

    const entries = entriesOf(await call(page, "log"), runId)
    expect(restartedAfterCompletion(entries)).toEqual([])
    // After the reload the run continued with the first step not completed before it: the one after the
    // steps seen completed before the mark, or the next if the one in flight completed between the mark
    // and the reload (never an earlier one: that would be a completed step run again).
    const mark = entries.indexOf("mark:reload")
    const doneBefore = entries.slice(0, mark).filter((e) => e.startsWith("complete:")).length
    const firstAfter = entries.slice(mark).find((e) => e.startsWith("start:"))
    expect([`start:s${doneBefore}`, `start:s${doneBefore + 1}`]).toContain(firstAfter)
  })

  it("across 20 rapid reloads every step completes once and none runs again after completing", async () => {
    const page = await newPage("?auto=rapid")
    await opened(page, "owner")
    const runId = await call(page, "trigger", 20, 120)
    // Reloads 40 to 390 ms apart, the same sequence each time.
    for (let i = 0; i < 20; i++) {
      await page.waitForTimeout(40 + ((i * 137) % 350))
      await call(page, "mark", `reload-${i}`).catch(() => undefined)
      await page.reload()
    }
    await opened(page, "owner")
    const waited = await call(page, "wait", runId)
    expect(waited).toMatchObject({ ok: true, run: { status: "completed", output: { total: 190 } } })
    expect(await completedSteps(page, runId)).toEqual(Array.from({ length: 20 }, (_, i) => `s${i}`))
    const entries = entriesOf(await call(page, "log"), runId)
    expect(restartedAfterCompletion(entries)).toEqual([])
    const starts = entries.filter((e) => e.startsWith("start:")).length
    console.log(`[browser] 20 reloads: ${starts} step starts for 20 steps (a start interrupted by a reload runs again)`)
  }, 120_000)

  it("a browser killed with SIGKILL mid-run: relaunched, the run resumes at its next step and its completed steps stay as they were", async () => {
    const profile = freshProfile()
    const crashed = await launch(profile)
    const page = await crashed.newPage()
    await page.goto(`${served.url}?auto=crash`)
    await opened(page, "owner")
    const runId = await call(page, "trigger", 10, 200)
    await stepsDone(page, runId, 3)
    killBrowser(profile)
    await crashed.close().catch(() => undefined)

    context = await launch(profile)
    const relaunched = await context.newPage()
    await relaunched.goto(`${served.url}?auto=crash`)
    await opened(relaunched, "owner")
    // Whatever was stored before the kill is still there, unchanged.
    const stored = (await call(relaunched, "steps", runId)).filter((step) => step.status === "completed")
    expect(stored.length).toBeGreaterThanOrEqual(3)
    expect(await call(relaunched, "wait", runId)).toMatchObject({ ok: true, run: { status: "completed", output: { total: 45 } } })
    const after = await call(relaunched, "steps", runId)
    expect(after.filter((step) => step.status === "completed").map((step) => step.name)).toEqual(
      Array.from({ length: 10 }, (_, i) => `s${i}`)
    )
    for (const step of stored) {
      expect(after.find((s) => s.name === step.name && s.status === "completed")).toEqual(step)
    }
  }, 120_000)

  it("two tabs: the follower triggers, watches and cancels runs the owner executes; when the owner closes the follower finishes its run", async () => {
    const owner = await newPage("?auto=tabs")
    await opened(owner, "owner")
    const follower = await newPage("?auto=tabs")
    await opened(follower, "follower")

    // Triggered and watched in the follower, executed by the owner.
    const first = await call(follower, "trigger", 4, 100)
    await call(follower, "watch", first)
    expect(await call(follower, "wait", first)).toMatchObject({ ok: true, run: { status: "completed", output: { total: 6 } } })
    // Subscribed once triggered: what it saw is the end of the run's events, in order, ending with its end.
    const all = ["run:leased", "step:start:s0", "step:complete:s0", "step:start:s1", "step:complete:s1"]
      .concat(["step:start:s2", "step:complete:s2", "step:start:s3", "step:complete:s3", "run:complete", "end"])
    await expect.poll(() => call(follower, "watched", first)).toContain("end")
    const watched = (await call(follower, "watched", first)).filter((event) => event !== "run:progress")
    expect(watched.length).toBeGreaterThanOrEqual(5)
    expect(watched).toEqual(all.slice(all.length - watched.length))
    const ownerEvents = await call(owner, "events")
    expect(ownerEvents.filter((e) => e.runId === first).map((e) => e.type)).toContain("run:trigger")
    const followerEvents = (await call(follower, "events")).filter((e) => e.runId === first)
    expect(followerEvents.filter((e) => e.type === "step:complete").map((e) => e.stepName)).toEqual(["s0", "s1", "s2", "s3"])
    expect(await call(follower, "run", first)).toMatchObject({ status: "completed" })

    // A cancel from the follower stops the owner's execution at once.
    const cancelled = await call(follower, "trigger", 20, 200)
    await stepsDone(follower, cancelled, 1)
    expect(await call(follower, "cancel", cancelled)).toMatchObject({ status: "cancelled" })
    const startsAtCancel = entriesOf(await call(owner, "log"), cancelled).filter((e) => e.startsWith("start:")).length
    await owner.waitForTimeout(600)
    expect(entriesOf(await call(owner, "log"), cancelled).filter((e) => e.startsWith("start:"))).toHaveLength(startsAtCancel)
    expect(await call(owner, "run", cancelled)).toMatchObject({ status: "cancelled" })

    // A retry from the follower: the owner resumes the run after its completed step.
    expect(await call(follower, "retry", cancelled)).toMatchObject({ status: "pending" })
    await stepsDone(follower, cancelled, 3)
    await call(follower, "cancel", cancelled)
    expect(await call(follower, "triggerAndWait", 3, 50)).toMatchObject({ output: { total: 3 } })

    // The owner closes mid-run: the follower takes the database over and resumes the run.
    const second = await call(follower, "trigger", 10, 200)
    await stepsDone(follower, second, 2)
    const closedAt = Date.now()
    await owner.close()
    await opened(follower, "owner")
    console.log(`[browser] takeover: the follower owned the database ${Date.now() - closedAt} ms after the owner tab closed`)
    expect(await call(follower, "wait", second)).toMatchObject({ ok: true, run: { status: "completed", output: { total: 45 } } })
    expect(await completedSteps(follower, second)).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`))
    expect(restartedAfterCompletion(entriesOf(await call(follower, "log"), second))).toEqual([])
  }, 120_000)

  it("a follower's call to an owner tab that answers nothing (frozen in the background, or hung) fails with a StoreError after ownerTimeout", async () => {
    const owner = await newPage("?auto=hung")
    await opened(owner, "owner")
    const follower = await newPage("?auto=hung&ownerTimeoutMs=1500")
    await opened(follower, "follower")
    const runId = await call(follower, "trigger", 1, 10)
    expect(await call(follower, "wait", runId)).toMatchObject({ ok: true })

    // The owner's thread is kept busy for 4 s, as a frozen tab's is stopped: nothing there answers.
    const hung = owner.evaluate(() => {
      const until = Date.now() + 4_000
      while (Date.now() < until) {
        // busy
      }
    })
    const started = Date.now()
    expect(await call(follower, "tryRun", runId)).toMatchObject({
      ok: false,
      name: "StoreError",
      message: expect.stringContaining("did not answer in time")
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400)
    expect(Date.now() - started).toBeLessThan(4_000)
    await hung
    expect(await call(follower, "tryRun", runId)).toMatchObject({ ok: true, run: { status: "completed" } })
  }, 60_000)

  it("an insecure context is a typed error that says to use https or localhost", async () => {
    const page = await newPage()
    await page.goto(`http://${insecureHost}:${served.port}/`)
    const started = Date.now()
    expect(await call(page, "openEffect", "insecure")).toMatchObject({
      ok: false,
      tag: "BrowserStorageError",
      reason: "insecure-context",
      detail: expect.stringContaining("https, or from localhost")
    })
    const facade = await call(page, "open", { name: "insecure" })
    expect(facade).toMatchObject({ ok: false, message: expect.stringContaining("needs a secure context") })
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it("a full OPFS pool and a missing wasm file are typed errors within seconds, not a hang", async () => {
    const page = await newPage()
    expect(await call(page, "fill", ".durably/full")).toMatchObject({ ok: true })
    let started = Date.now()
    expect(await call(page, "openEffect", "full")).toMatchObject({
      ok: false,
      tag: "BrowserStorageError",
      reason: "pool-full",
      detail: expect.stringContaining("is full")
    })
    expect(await call(page, "open", { name: "full" })).toMatchObject({ ok: false, message: expect.stringContaining("is full") })
    expect(Date.now() - started).toBeLessThan(5_000)

    await page.route("**/*.wasm", (route) => route.abort())
    started = Date.now()
    expect(await call(page, "openEffect", "nowasm")).toMatchObject({ ok: false, tag: "BrowserStorageError", reason: "worker" })
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it("the example page: a report started from its form moves its progress bar to the end in both tabs", async () => {
    const example = await serve(exampleRoot)
    try {
      context ??= await launch()
      const first = await context.newPage()
      await first.goto(example.url)
      await expect.poll(() => first.textContent("#role"), { timeout: 20_000 }).toBe("this tab executes runs")
      const second = await context.newPage()
      await second.goto(example.url)
      await expect.poll(() => second.textContent("#role"), { timeout: 20_000 }).toBe("another tab executes runs")
      await second.click("button[type=submit]")
      for (const page of [first, second]) {
        await expect.poll(() => page.locator("#runs tr").count(), { timeout: 10_000 }).toBe(1)
        await expect.poll(() => page.textContent("#runs .status"), { timeout: 20_000 }).toBe("completed")
        expect(await page.locator("#runs progress").evaluate((bar: HTMLProgressElement) => bar.value)).toBe(6)
      }
      expect(await first.isVisible("#error")).toBe(false)
    } finally {
      await example.close()
    }
  }, 120_000)
})
