// SSE connections must not leak event-bus subscriptions: a thousand
// connect/disconnect cycles against a run that is still running (so its stream
// would never end by itself), on GET /subscribe?runId and GET /runs/subscribe,
// through a real Node server and through `DurablyHttp.toWebHandler`. After the
// cycles `EventBus.subscribers` must come back to what it was before.
import { Durably, EventBus, Job, Step } from "@durably/core"
import { DurablyHttp } from "@durably/http"
import { DurablyNode, NodeHttp } from "@durably/node"
import { HttpServer } from "@effect/platform"
import { Context, Deferred, Effect, Exit, Layer, Schema, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

/** Holds its run in `leased` until the test lets it go. */
const gate = Effect.runSync(Deferred.make<void>())
const hold = Job.make({
  name: "hold",
  input: Schema.Struct({ n: Schema.Number }),
  run: () =>
    Effect.gen(function* () {
      yield* Step.progress(1, 2, "waiting")
      return yield* Step.run("wait", Effect.as(Deferred.await(gate), "released"))
    })
})

let scope: Scope.CloseableScope
let dir: string
let base: string
let durably: Context.Tag.Service<Durably.Durably>
let bus: Context.Tag.Service<EventBus.EventBus>
let web: DurablyHttp.WebHandler
let runId: string
let baseline: number

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const subscribers = () => run(bus.subscribers)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls the subscriber count until `done` holds or the deadline passes; returns the last count. */
const settle = async (done: (count: number) => boolean, deadlineMs = 10_000) => {
  const deadline = Date.now() + deadlineMs
  let count = await subscribers()
  while (!done(count) && Date.now() < deadline) {
    await sleep(20)
    count = await subscribers()
  }
  return count
}

/** Runs `f` for 0..n-1, at most `limit` at a time. */
const pool = async (n: number, limit: number, f: (index: number) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < n) await f(next++)
  }
  await Promise.all(Array.from({ length: limit }, worker))
}

const decoder = new TextDecoder()

/** The response is an event stream; its first frame (a keep-alive comment or an event) is read. */
const firstFrame = async (response: Response) => {
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toContain("text/event-stream")
  if (response.body === null) throw new Error("no body")
  const reader = response.body.getReader()
  const chunk = await reader.read()
  if (chunk.done) throw new Error("the stream ended at once")
  const text = decoder.decode(chunk.value)
  expect(text.startsWith(": keep-alive\n\n") || text.startsWith("data: ")).toBe(true)
  return reader
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "durably-sse-leak-"))
  scope = await run(Scope.make())
  const engine = await run(
    Layer.buildWithScope(
      DurablyNode.sqlite({ filename: join(dir, "durably.db"), jobs: [hold], pollingInterval: "20 millis", shutdownTimeout: "2 seconds" }),
      scope
    )
  )
  const server = await run(
    Layer.buildWithScope(NodeHttp.server({ port: 0, keepAliveMs: 20 }).pipe(Layer.provide(Layer.succeedContext(engine))), scope)
  )
  const address = Context.get(server, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
  durably = Context.get(engine, Durably.Durably)
  bus = Context.get(engine, EventBus.EventBus)
  web = DurablyHttp.toWebHandler(engine, { keepAliveMs: 20 })

  const triggered = await run(durably.trigger(hold, { n: 1 }))
  runId = triggered.run.id
  const deadline = Date.now() + 10_000
  while ((await run(durably.getRun(runId))).status !== "leased") {
    if (Date.now() > deadline) throw new Error("the run was never leased")
    await sleep(10)
  }
  baseline = await subscribers()
}, 30_000)

afterAll(async () => {
  await run(Deferred.succeed(gate, undefined))
  if (runId !== undefined) await run(Effect.ignore(durably.waitForRun(runId, { timeout: "5 seconds" })))
  if (web !== undefined) await web.dispose()
  if (scope !== undefined) await run(Scope.close(scope, Exit.void))
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe("SSE connect/disconnect cycles leave no subscription behind", () => {
  it("an open stream holds a subscription and a closed one gives it back (the count measures what we think)", async () => {
    const controllers = Array.from({ length: 10 }, () => new AbortController())
    await Promise.all(
      controllers.map(async (controller, index) => {
        const path = index % 2 === 0 ? `/subscribe?runId=${runId}` : "/runs/subscribe"
        await firstFrame(await fetch(`${base}${path}`, { signal: controller.signal }))
      })
    )
    expect(await settle((count) => count >= baseline + 10)).toBeGreaterThanOrEqual(baseline + 10)
    for (const controller of controllers) controller.abort()
    expect(await settle((count) => count === baseline)).toBe(baseline)
  })

  it("1,000 cycles through the Node server: /subscribe?runId (abort or cancel the reader) and /runs/subscribe", async () => {
    const started = Date.now()
    let frames = 0
    await pool(1000, 16, async (index) => {
      const path = index % 5 === 4 ? "/runs/subscribe?jobName=hold" : `/subscribe?runId=${runId}`
      const controller = new AbortController()
      const reader = await firstFrame(await fetch(`${base}${path}`, { signal: controller.signal }))
      frames++
      if (index % 2 === 0) controller.abort()
      else await reader.cancel()
    })
    expect(frames).toBe(1000)
    const after = await settle((count) => count === baseline)
    console.log(`1000 Node cycles in ${Date.now() - started} ms; subscribers ${baseline} → ${after}`)
    expect(after).toBe(baseline)
    // The run is still running: nothing above ended its stream for it.
    expect((await run(durably.getRun(runId))).status).toBe("leased")
  }, 40_000)

  it("200 requests aborted before their answer arrives through the Node server", async () => {
    await pool(200, 16, async (index) => {
      const controller = new AbortController()
      const path = index % 2 === 0 ? `/subscribe?runId=${runId}` : "/runs/subscribe"
      const pending = fetch(`${base}${path}`, { signal: controller.signal })
      // Abort at once, or a little later (possibly after the server subscribed).
      if (index % 4 < 2) controller.abort()
      else setTimeout(() => controller.abort(), index % 7)
      try {
        const response = await pending
        await response.body?.cancel()
      } catch (error) {
        expect((error as Error).name).toBe("AbortError")
      }
    })
    expect(await settle((count) => count === baseline)).toBe(baseline)
  }, 40_000)

  it("300 cycles through DurablyHttp.toWebHandler, each ended with reader.cancel()", async () => {
    await pool(300, 16, async (index) => {
      const path = index % 3 === 2 ? "/runs/subscribe" : `/subscribe?runId=${runId}`
      const reader = await firstFrame(await web.handle(new Request(`http://localhost${path}`)))
      await reader.cancel()
    })
    expect(await settle((count) => count === baseline)).toBe(baseline)
  }, 40_000)

  it("the streams still work afterwards: a subscriber sees the run finish", async () => {
    const response = await fetch(`${base}/subscribe?runId=${runId}`)
    const reader = await firstFrame(response)
    await run(Deferred.succeed(gate, undefined))
    let text = ""
    for (;;) {
      const chunk = await reader.read()
      if (chunk.done) break
      text += decoder.decode(chunk.value)
    }
    expect(text).toContain('"type":"run:complete"')
    expect(await settle((count) => count === baseline)).toBe(baseline)
  })
})
