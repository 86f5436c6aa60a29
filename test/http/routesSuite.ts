// The HTTP API (SPEC §7) from the outside: every route with its exact answer,
// every error status, and the server-sent event streams, read by a real client.
// `routesSuite` is run once per way of serving the API (routes-web.test.ts:
// `DurablyHttp.toWebHandler` and the facade's `createDurablyHandler`;
// routes-node.test.ts: a real Node server). Each test gets a fresh SQLite file.
//
// Also here, shared with auth.test.ts: the test jobs (one set for the Effect
// engine, the same set for the Promise facade), gates that hold a job until the
// test opens them, an SSE client, and the Web-handler harnesses.
import { Job, Step } from "@durably/core"
import type { RunStatus } from "@durably/core/Run"
import { DurablyHttp } from "@durably/http"
import { DurablyNode } from "@durably/node"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { DurablyHandlerOptions } from "durably"
import { createDurably, createDurablyHandler, defineJob } from "durably"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"

// --- waiting -------------------------------------------------------------------

/** Rejects after `ms` instead of letting a test hang until vitest's own timeout. */
export const within = <T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `probe` until it returns a value (not `undefined`), or fails after `ms`. */
export const eventually = async <T>(probe: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(15)
  }
}

// --- gates -------------------------------------------------------------------

interface Gate {
  readonly promise: Promise<void>
  readonly open: () => void
}

/** Named gates a job waits on until the test opens them (opening first is fine too). */
export class Gates {
  private readonly gates = new Map<string, Gate>()

  private gate(name: string): Gate {
    const known = this.gates.get(name)
    if (known !== undefined) return known
    let open: () => void = () => {}
    const promise = new Promise<void>((resolve) => {
      open = resolve
    })
    const gate = { promise, open }
    this.gates.set(name, gate)
    return gate
  }

  /** Resolves when `name` is opened; rejects when `signal` aborts first (the run was stopped). */
  wait(name: string, signal: AbortSignal): Promise<boolean> {
    const gate = this.gate(name)
    return new Promise<boolean>((resolve, reject) => {
      if (signal.aborted) return reject(new Error("stopped"))
      const onAbort = () => reject(new Error("stopped"))
      signal.addEventListener("abort", onAbort, { once: true })
      void gate.promise.then(() => {
        signal.removeEventListener("abort", onAbort)
        resolve(true)
      })
    })
  }

  open(name: string): void {
    this.gate(name).open()
  }

  openAll(): void {
    for (const gate of this.gates.values()) gate.open()
  }
}

// --- jobs ----------------------------------------------------------------------

const GreetInput = Schema.Struct({ name: Schema.String })
const GreetOutput = Schema.Struct({ greeting: Schema.String })
const GatedInput = Schema.Struct({ gate: Schema.String })
const GatedOutput = Schema.Struct({ gate: Schema.String })
const FailInput = Schema.Struct({})
const ProgressInput = Schema.Struct({ gate: Schema.String, count: Schema.Number, after: Schema.optional(Schema.String) })
const ProgressOutput = Schema.Struct({ count: Schema.Number })

/**
 * The test jobs on the Effect engine:
 * - `greet {name}`: progress 1/2 "half", a log line, step `hello` → `{greeting: "hi <name>"}`;
 * - `gated {gate}`: step `wait` holds until the gate opens, step `after` → `{gate}`;
 * - `fail {}`: step `boom` fails with "boom";
 * - `progress {gate, count, after?}`: waits on `gate`, reports progress 1..count/count, waits on
 *   `after` (if given; outside any step, so silently), → `{count}`.
 */
export const effectJobs = (gates: Gates) => [
  Job.make({
    name: "greet",
    input: GreetInput,
    output: GreetOutput,
    run: ({ name }) =>
      Effect.gen(function* () {
        yield* Step.progress(1, 2, "half")
        yield* Step.log.info("greeting", { name })
        const greeting = yield* Step.run("hello", Effect.succeed(`hi ${name}`))
        return { greeting }
      })
  }),
  Job.make({
    name: "gated",
    input: GatedInput,
    output: GatedOutput,
    run: ({ gate }) =>
      Effect.gen(function* () {
        yield* Step.run("wait", Effect.promise((signal) => gates.wait(gate, signal)))
        return yield* Step.run("after", Effect.succeed({ gate }))
      })
  }),
  Job.make({
    name: "fail",
    input: FailInput,
    run: () => Effect.asVoid(Step.run("boom", Effect.fail(new Error("boom"))))
  }),
  Job.make({
    name: "progress",
    input: ProgressInput,
    output: ProgressOutput,
    run: ({ after, count, gate }) =>
      Effect.gen(function* () {
        yield* Step.run("wait", Effect.promise((signal) => gates.wait(gate, signal)))
        for (let i = 1; i <= count; i++) yield* Step.progress(i, count)
        // Outside any step, so the run publishes nothing while it waits.
        if (after !== undefined) yield* Effect.promise((signal) => gates.wait(after, signal))
        return yield* Step.run("done", Effect.succeed({ count }))
      })
  })
]

/** The same jobs for the Promise facade. */
export const facadeJobs = (gates: Gates) => ({
  greet: defineJob({
    name: "greet",
    input: GreetInput,
    output: GreetOutput,
    run: async (step, { name }) => {
      step.progress(1, 2, "half")
      step.log.info("greeting", { name })
      const greeting = await step.run("hello", () => `hi ${name}`)
      return { greeting }
    }
  }),
  gated: defineJob({
    name: "gated",
    input: GatedInput,
    output: GatedOutput,
    run: async (step, { gate }) => {
      await step.run("wait", (signal) => gates.wait(gate, signal))
      return step.run("after", () => ({ gate }))
    }
  }),
  fail: defineJob({
    name: "fail",
    input: FailInput,
    run: async (step) => {
      await step.run("boom", () => {
        throw new Error("boom")
      })
    }
  }),
  progress: defineJob({
    name: "progress",
    input: ProgressInput,
    output: ProgressOutput,
    run: async (step, { after, count, gate }) => {
      await step.run("wait", (signal) => gates.wait(gate, signal))
      for (let i = 1; i <= count; i++) step.progress(i, count)
      // Outside any step, so the run publishes nothing while it waits.
      if (after !== undefined) await gates.wait(after, step.signal)
      return step.run("done", () => ({ count }))
    }
  })
})

/** Engine settings of every harness: one run at a time, steps kept, a quick shutdown. */
export const engineOptions = {
  pollingInterval: "20 millis",
  maxConcurrentRuns: 1,
  preserveSteps: true,
  shutdownTimeout: "1 second"
} as const

/** The same settings as `createDurably` takes them. */
export const facadeEngineOptions = {
  pollingIntervalMs: 20,
  maxConcurrentRuns: 1,
  preserveSteps: true,
  shutdownTimeoutMs: 1_000
} as const

// --- harnesses -------------------------------------------------------------------

/** A running API and what a test needs around it. */
export interface Api {
  /** `fetch` against the API; `path` is relative to its root, e.g. `/runs?limit=1`. */
  readonly fetch: (path: string, init?: RequestInit) => Promise<Response>
  /** The SQLite file behind it. */
  readonly filename: string
  readonly gates: Gates
  /** Closes every stream opened with `openSse`, opens every gate, then shuts the API and engine down. */
  readonly close: () => Promise<void>
  /** Streams to cancel on close. */
  readonly streams: Set<SseClient>
  /** The Web handler's own `handle(request, basePath?)`, for the Web servings. */
  readonly handle?: ((request: Request, basePath?: string) => Promise<Response>) | undefined
}

export interface ApiOptions {
  readonly keepAliveMs?: number
  readonly progressThrottleMs?: number
}

export type OpenApi = (options: ApiOptions) => Promise<Api>

/** A fresh temporary folder, and how to remove it. */
export const tempDatabase = () => {
  const dir = mkdtempSync(join(tmpdir(), "durably-http-"))
  return { filename: join(dir, "durably.db"), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Wraps a serving's `fetch` and `dispose` into an `Api` with the shared close order. */
export const makeApi = (parts: {
  readonly fetch: (path: string, init?: RequestInit) => Promise<Response>
  readonly filename: string
  readonly gates: Gates
  readonly dispose: () => Promise<void>
  readonly handle?: (request: Request, basePath?: string) => Promise<Response>
}): Api => {
  const streams = new Set<SseClient>()
  let closed = false
  return {
    fetch: parts.fetch,
    filename: parts.filename,
    gates: parts.gates,
    streams,
    handle: parts.handle,
    close: async () => {
      if (closed) return
      closed = true
      await Promise.all([...streams].map((stream) => stream.close()))
      parts.gates.openAll()
      await parts.dispose()
    }
  }
}

export const basePath = "/api/durably"

/** An `Api` over a Web handler mounted at `basePath`; the database file is removed after `close`. */
const webApi = (
  handler: { readonly handle: (request: Request, basePath?: string) => Promise<Response> },
  database: ReturnType<typeof tempDatabase>,
  gates: Gates,
  close: () => Promise<void>
): Api =>
  makeApi({
    fetch: (path, init) => handler.handle(new Request(`http://localhost${basePath}${path}`, init), basePath),
    filename: database.filename,
    gates,
    handle: (request, base) => handler.handle(request, base),
    dispose: async () => {
      try {
        await close()
      } finally {
        database.remove()
      }
    }
  })

/** Builds `layer` into a new scope; the context and how to close the scope. */
export const buildLayer = async <A, E>(layer: Layer.Layer<A, E>) => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Layer.buildWithScope(layer, scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`could not build the layer: ${String(exit.cause)}`)
  }
  return { context: exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** `DurablyHttp.toWebHandler` over `DurablyNode.sqlite`, mounted under `/api/durably`. */
export const openWebApi = async <Ctx>(options: DurablyHttp.Options<Ctx>): Promise<Api> => {
  const database = tempDatabase()
  const gates = new Gates()
  let engine: { readonly close: () => Promise<void> } | undefined
  try {
    const built = await buildLayer(
      DurablyNode.sqlite({ filename: database.filename, jobs: effectJobs(gates), ...engineOptions })
    )
    engine = built
    const handler = DurablyHttp.toWebHandler(built.context, options)
    return webApi(handler, database, gates, async () => {
      await handler.dispose()
      await built.close()
    })
  } catch (error) {
    await engine?.close()
    database.remove()
    throw error
  }
}

/** The facade's `createDurablyHandler(createDurably(...))`, mounted under `/api/durably`. */
export const openFacadeApi = async <Ctx>(options: DurablyHandlerOptions<Ctx>): Promise<Api> => {
  const database = tempDatabase()
  const gates = new Gates()
  const durably = createDurably({ database: database.filename, jobs: facadeJobs(gates), ...facadeEngineOptions })
  try {
    await durably.init()
  } catch (error) {
    await durably.dispose()
    database.remove()
    throw error
  }
  return webApi(createDurablyHandler(durably, options), database, gates, () => durably.dispose())
}

// --- HTTP helpers ------------------------------------------------------------------

/** A JSON event as it travels in an SSE frame. */
export interface EventJson {
  readonly type: string
  readonly runId?: string
  readonly jobName?: string
  readonly timestamp?: string
  readonly [field: string]: unknown
}

/** A run as the API answers it (dates as ISO strings). */
export interface RunJson {
  readonly id: string
  readonly jobName: string
  readonly status: RunStatus
  readonly input: unknown
  readonly output: unknown
  readonly error: string | null
  readonly labels: Record<string, string>
  readonly progress: { readonly current: number; readonly total?: number; readonly message?: string } | null
  readonly attempt: number
  readonly [field: string]: unknown
}

export interface ErrorJson {
  readonly error: string
  readonly issues?: ReadonlyArray<{ readonly path: ReadonlyArray<string | number>; readonly message: string }>
}

export interface TriggeredJson {
  readonly runId: string
  readonly disposition: "created" | "idempotent" | "coalesced"
}

export const json = async <T>(response: Response): Promise<T> => {
  const text = await response.text()
  try {
    return JSON.parse(text) as T
  } catch {
    throw new Error(`expected a JSON body (status ${response.status}), got: ${text.slice(0, 300)}`)
  }
}

const jsonHeaders = { "content-type": "application/json" }

export const post = (api: Api, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  api.fetch(path, {
    method: "POST",
    headers: { ...jsonHeaders, ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
  })

export const get = (api: Api, path: string, headers: Record<string, string> = {}) => api.fetch(path, { headers })

export const del = (api: Api, path: string, headers: Record<string, string> = {}) =>
  api.fetch(path, { method: "DELETE", headers })

/** Asserts a JSON success answer and returns its body. */
export const ok = async <T>(response: Response | Promise<Response>): Promise<T> => {
  const res = await response
  const body = await json<T>(res)
  expect(res.status, JSON.stringify(body)).toBe(200)
  expect(res.headers.get("content-type")).toMatch(/^application\/json/)
  return body
}

/**
 * Asserts an error answer: the status, a JSON body whose `error` is a string,
 * and nothing of the internals (SQL, the driver, stack lines, source paths).
 */
export const failsWith = async (response: Response | Promise<Response>, status: number): Promise<ErrorJson> => {
  const res = await response
  const text = await res.text()
  expect(res.status, text).toBe(status)
  expect(res.headers.get("content-type")).toMatch(/^application\/json/)
  expect(text).not.toMatch(/SELECT|INSERT|UPDATE durably|DELETE FROM/)
  expect(text).not.toMatch(/sqlite/i)
  expect(text).not.toMatch(/(^|\\n|\n)\s*at \S/)
  expect(text).not.toMatch(/node_modules|\.ts:\d+|\.js:\d+/)
  const body = JSON.parse(text) as ErrorJson
  expect(typeof body.error).toBe("string")
  expect(body.error.length).toBeGreaterThan(0)
  return body
}

export const trigger = async (api: Api, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  ok<TriggeredJson>(post(api, "/trigger", body, headers))

export const getRun = (api: Api, runId: string, headers: Record<string, string> = {}) =>
  ok<RunJson>(get(api, `/run?runId=${encodeURIComponent(runId)}`, headers))

export const listRuns = (api: Api, query = "", headers: Record<string, string> = {}) =>
  ok<ReadonlyArray<RunJson>>(get(api, `/runs${query}`, headers))

export const runIds = async (api: Api, query = "", headers: Record<string, string> = {}) =>
  (await listRuns(api, query, headers)).map((run) => run.id).sort()

/** Waits until the run's status is one of `statuses`; returns the run. */
export const waitForStatus = (
  api: Api,
  runId: string,
  statuses: ReadonlyArray<RunStatus>,
  headers: Record<string, string> = {}
) =>
  eventually(
    async () => {
      const run = await getRun(api, runId, headers)
      return statuses.includes(run.status) ? run : undefined
    },
    `run ${runId} to be ${statuses.join(" or ")}`
  )

/** The runs in the store, as `{id, status}` sorted by id: a snapshot to compare before and after. */
export const snapshot = async (api: Api, headers: Record<string, string> = {}) =>
  (await listRuns(api, "?limit=1000", headers))
    .map((run) => ({ id: run.id, status: run.status, attempt: run.attempt }))
    .sort((a, b) => a.id.localeCompare(b.id))

// --- SSE client ----------------------------------------------------------------------

export type Frame = { readonly kind: "event"; readonly event: EventJson } | { readonly kind: "comment"; readonly text: string }

/** Reads `data: <json>\n\n` frames (and `: comment` lines) from a response body. */
export class SseClient {
  private readonly decoder = new TextDecoder()
  private buffer = ""
  private readonly frames: Array<Frame> = []
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined
  private done = false
  /** Every frame read so far, in order. */
  readonly seen: Array<Frame> = []

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  private parse() {
    for (;;) {
      const end = this.buffer.indexOf("\n\n")
      if (end === -1) return
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      const data: Array<string> = []
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.frames.push({ kind: "comment", text: line.slice(1).trim() })
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart())
        else if (line.length > 0) throw new Error(`unexpected SSE line: ${line}`)
      }
      if (data.length > 0) this.frames.push({ kind: "event", event: JSON.parse(data.join("\n")) as EventJson })
    }
  }

  /** The next frame, or `undefined` when the stream has ended; fails after `ms`. */
  async next(what: string, ms = 10_000): Promise<Frame | undefined> {
    const deadline = Date.now() + ms
    for (;;) {
      const frame = this.frames.shift()
      if (frame !== undefined) {
        this.seen.push(frame)
        return frame
      }
      if (this.done) return undefined
      this.pending ??= this.reader.read()
      const result = await within(this.pending, what, Math.max(1, deadline - Date.now()))
      this.pending = undefined
      if (result.done) {
        this.done = true
        if (this.buffer.trim().length > 0) throw new Error(`the stream ended inside a frame: ${this.buffer}`)
      } else {
        this.buffer += this.decoder.decode(result.value, { stream: true })
        this.parse()
      }
    }
  }

  /** Frames up to and including the first for which `stop` holds; fails if the stream ends first. */
  async until(stop: (frame: Frame) => boolean, what: string, ms = 10_000): Promise<Array<Frame>> {
    const deadline = Date.now() + ms
    const frames: Array<Frame> = []
    for (;;) {
      const frame = await this.next(what, Math.max(1, deadline - Date.now()))
      if (frame === undefined) throw new Error(`the stream ended before ${what}`)
      frames.push(frame)
      if (stop(frame)) return frames
    }
  }

  /** Every frame until the stream ends by itself. */
  async toEnd(what: string, ms = 10_000): Promise<Array<Frame>> {
    const deadline = Date.now() + ms
    const frames: Array<Frame> = []
    for (;;) {
      const frame = await this.next(what, Math.max(1, deadline - Date.now()))
      if (frame === undefined) return frames
      frames.push(frame)
    }
  }

  /** Waits until `n` keep-alive comments have arrived: the stream is being served and subscribed. */
  async live(n = 2): Promise<void> {
    let count = 0
    await this.until((frame) => frame.kind === "comment" && frame.text === "keep-alive" && ++count >= n, "keep-alive comments")
  }

  close(): Promise<void> {
    this.done = true
    return this.reader.cancel().catch(() => undefined)
  }
}

export const eventsOf = (frames: ReadonlyArray<Frame>): Array<EventJson> =>
  frames.flatMap((frame) => (frame.kind === "event" ? [frame.event] : []))

export const typesOf = (frames: ReadonlyArray<Frame>): Array<string> => eventsOf(frames).map((event) => event.type)

/** The `current` of a `run:progress` event. */
const currentOf = (event: EventJson): number => (event["progress"] as { current: number }).current

/**
 * Triggers the `progress` job (held at its gate "g"), subscribes to it once it
 * is leased, then lets it go: the stream sees every progress update it makes.
 */
const watchProgress = async (api: Api, input: { gate: string; count: number; after?: string }) => {
  const { runId } = await trigger(api, { jobName: "progress", input })
  await waitForStatus(api, runId, ["leased"])
  const stream = await openSse(api, `/subscribe?runId=${runId}`)
  await stream.live()
  api.gates.open(input.gate)
  return { runId, stream }
}

/** Opens an SSE route: checks it answers a 200 event stream and returns a client (closed with the API). */
export const openSse = async (api: Api, path: string, headers: Record<string, string> = {}): Promise<SseClient> => {
  const res = await within(api.fetch(path, { headers }), `the response of GET ${path}`)
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`)
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/)
  if (res.body === null) throw new Error(`GET ${path} has no body`)
  const client = new SseClient(res.body.getReader())
  api.streams.add(client)
  return client
}

const isTerminal = (type: string) => type === "run:complete" || type === "run:fail" || type === "run:cancel"

// --- the suite -----------------------------------------------------------------------

export const routesSuite = (name: string, openApi: OpenApi) =>
  describe(name, () => {
    const opened: Array<Api> = []
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((api) => api.close()))
    })
    const open = async (options: ApiOptions = {}) => {
      const api = await openApi(options)
      opened.push(api)
      return api
    }

    /** A completed `greet` run. */
    const greeted = async (api: Api, name: string, labels?: Record<string, string>) => {
      const { runId } = await trigger(api, { jobName: "greet", input: { name }, ...(labels === undefined ? {} : { labels }) })
      await waitForStatus(api, runId, ["completed"])
      return runId
    }

    /** A `gated` run holding the worker (leased), until its gate opens. */
    const holding = async (api: Api, gate: string, options: Record<string, unknown> = {}) => {
      const { runId } = await trigger(api, { jobName: "gated", input: { gate }, ...options })
      await waitForStatus(api, runId, ["leased"])
      return runId
    }

    describe("routes", () => {
      it("POST /trigger answers {runId, disposition: 'created'} and stores the run", async () => {
        const api = await open()
        const body = await trigger(api, { jobName: "greet", input: { name: "ann" }, labels: { org: "a" } })
        expect(body).toEqual({ runId: expect.any(String), disposition: "created" })
        expect(Object.keys(body).sort()).toEqual(["disposition", "runId"])
        const run = await waitForStatus(api, body.runId, ["completed"])
        expect(run).toMatchObject({ jobName: "greet", input: { name: "ann" }, labels: { org: "a" }, output: { greeting: "hi ann" } })
      })

      it("POST /trigger with a known idempotencyKey answers the first run, 'idempotent', and adds none", async () => {
        const api = await open()
        const first = await trigger(api, { jobName: "greet", input: { name: "a" }, idempotencyKey: "k1" })
        const second = await trigger(api, { jobName: "greet", input: { name: "b" }, idempotencyKey: "k1" })
        expect(first.disposition).toBe("created")
        expect(second).toEqual({ runId: first.runId, disposition: "idempotent" })
        expect(await runIds(api)).toEqual([first.runId])
        expect((await getRun(api, first.runId)).idempotencyKey).toBe("k1")
      })

      it("POST /trigger with coalesce 'skip' answers the pending run of its concurrencyKey, 'coalesced'", async () => {
        const api = await open()
        const holder = await holding(api, "hold", { concurrencyKey: "ck" })
        const pending = await trigger(api, { jobName: "greet", input: { name: "p" }, concurrencyKey: "ck", coalesce: "skip" })
        expect(pending.disposition).toBe("created")
        expect((await getRun(api, pending.runId)).status).toBe("pending")
        const coalesced = await trigger(api, { jobName: "greet", input: { name: "q" }, concurrencyKey: "ck", coalesce: "skip" })
        expect(coalesced).toEqual({ runId: pending.runId, disposition: "coalesced" })
        expect(await runIds(api)).toEqual([holder, pending.runId].sort())
        api.gates.open("hold")
        await waitForStatus(api, holder, ["completed"])
        expect((await waitForStatus(api, pending.runId, ["completed"])).output).toEqual({ greeting: "hi p" })
      })

      it("GET /runs answers a JSON array of runs, filtered by jobName, status, label.KEY=VALUE, limit and offset", async () => {
        const api = await open()
        const a = await greeted(api, "a", { org: "a", tier: "gold" })
        const b = await greeted(api, "b", { org: "b" })
        const { runId: failed } = await trigger(api, { jobName: "fail", input: {}, labels: { org: "a" } })
        await waitForStatus(api, failed, ["failed"])
        const all = [a, b, failed].sort()

        const runs = await listRuns(api)
        expect(Array.isArray(runs)).toBe(true)
        expect(runs.map((run) => run.id).sort()).toEqual(all)
        for (const run of runs) {
          expect(Object.keys(run).sort()).toEqual(
            [
              "attempt", "completedAt", "concurrencyKey", "createdAt", "error", "id", "idempotencyKey", "input", "jobName",
              "labels", "leaseExpiresAt", "leaseGeneration", "leaseOwner", "output", "progress", "startedAt", "status", "updatedAt"
            ]
          )
        }

        expect(await runIds(api, "?jobName=greet")).toEqual([a, b].sort())
        expect(await runIds(api, "?jobName=greet&jobName=fail")).toEqual(all)
        expect(await runIds(api, "?jobName=nothing")).toEqual([])
        expect(await runIds(api, "?status=failed")).toEqual([failed])
        expect(await runIds(api, "?status=completed")).toEqual([a, b].sort())
        expect(await runIds(api, "?status=completed&status=failed")).toEqual(all)
        expect(await runIds(api, "?status=pending")).toEqual([])
        expect(await runIds(api, "?label.org=a")).toEqual([a, failed].sort())
        expect(await runIds(api, "?label.org=a&label.tier=gold")).toEqual([a])
        expect(await runIds(api, "?label.org=c")).toEqual([])
        expect(await runIds(api, "?jobName=greet&label.org=a")).toEqual([a])

        const page1 = await runIds(api, "?limit=2")
        const page2 = await runIds(api, "?limit=2&offset=2")
        expect(page1).toHaveLength(2)
        expect(page2).toHaveLength(1)
        expect([...page1, ...page2].sort()).toEqual(all)
        expect(await runIds(api, "?offset=3")).toEqual([])
        expect(await runIds(api, "?limit=0")).toEqual([])
      })

      it("GET /run answers the run with every field", async () => {
        const api = await open()
        const runId = await greeted(api, "ann", { org: "a" })
        const run = await getRun(api, runId)
        expect(run).toEqual({
          id: runId,
          jobName: "greet",
          status: "completed",
          input: { name: "ann" },
          output: { greeting: "hi ann" },
          error: null,
          labels: { org: "a" },
          progress: { current: 1, total: 2, message: "half" },
          idempotencyKey: null,
          concurrencyKey: null,
          leaseOwner: null,
          leaseExpiresAt: null,
          leaseGeneration: 1,
          attempt: 1,
          startedAt: expect.any(String),
          completedAt: expect.any(String),
          createdAt: expect.any(String),
          updatedAt: expect.any(String)
        })
        for (const field of ["startedAt", "completedAt", "createdAt", "updatedAt"] as const) {
          expect(new Date(String(run[field])).toISOString()).toBe(run[field])
        }
      })

      it("GET /steps answers the run's steps as a JSON array", async () => {
        const api = await open()
        const runId = await greeted(api, "ann")
        const steps = await ok<ReadonlyArray<Record<string, unknown>>>(get(api, `/steps?runId=${runId}`))
        expect(steps).toEqual([
          {
            runId,
            name: "hello",
            index: 0,
            status: "completed",
            output: "hi ann",
            error: null,
            startedAt: expect.any(String),
            completedAt: expect.any(String)
          }
        ])
        // A run whose first step has not completed has no steps yet.
        const waiting = await holding(api, "g")
        expect(await ok<ReadonlyArray<unknown>>(get(api, `/steps?runId=${waiting}`))).toEqual([])
        api.gates.open("g")
        await waitForStatus(api, waiting, ["completed"])
        const names = (await ok<ReadonlyArray<{ name: string; index: number }>>(get(api, `/steps?runId=${waiting}`))).map(
          (step) => [step.name, step.index]
        )
        expect(names).toEqual([["wait", 0], ["after", 1]])
      })

      it("POST /cancel and POST /retry answer {success: true}; the run is cancelled, then runs again", async () => {
        const api = await open()
        const runId = await holding(api, "g")
        expect(await ok(post(api, `/cancel?runId=${runId}`))).toEqual({ success: true })
        expect((await getRun(api, runId)).status).toBe("cancelled")
        expect(await ok(post(api, `/retry?runId=${runId}`))).toEqual({ success: true })
        expect(["pending", "leased"]).toContain((await getRun(api, runId)).status)
        api.gates.open("g")
        const done = await waitForStatus(api, runId, ["completed"])
        expect(done).toMatchObject({ output: { gate: "g" }, attempt: 2 })
      })

      it("POST /retry of a failed run answers {success: true} and the run executes again (same id)", async () => {
        const api = await open()
        const { runId } = await trigger(api, { jobName: "fail", input: {} })
        const failed = await waitForStatus(api, runId, ["failed"])
        expect(failed.error).toMatch(/boom/)
        expect(await ok(post(api, `/retry?runId=${runId}`))).toEqual({ success: true })
        await eventually(async () => {
          const run = await getRun(api, runId)
          return run.status === "failed" && run.attempt === 2 ? run : undefined
        }, "the retried run to fail again")
        expect(await runIds(api)).toEqual([runId])
      })

      it("POST /retrigger answers {runId, disposition} of a new run with the same input and labels", async () => {
        const api = await open()
        const runId = await greeted(api, "ann", { org: "a" })
        const body = await ok<TriggeredJson>(post(api, `/retrigger?runId=${runId}`))
        expect(body).toEqual({ runId: expect.any(String), disposition: "created" })
        expect(body.runId).not.toBe(runId)
        const copy = await waitForStatus(api, body.runId, ["completed"])
        expect(copy).toMatchObject({ jobName: "greet", input: { name: "ann" }, labels: { org: "a" }, output: { greeting: "hi ann" } })
        expect(await runIds(api)).toEqual([runId, body.runId].sort())
      })

      it("DELETE /run answers {success: true}; the run is gone (GET /run is 404)", async () => {
        const api = await open()
        const runId = await greeted(api, "ann")
        const other = await greeted(api, "bob")
        expect(await ok(del(api, `/run?runId=${runId}`))).toEqual({ success: true })
        await failsWith(get(api, `/run?runId=${runId}`), 404)
        expect(await runIds(api)).toEqual([other])
        await failsWith(del(api, `/run?runId=${runId}`), 404)
      })

      it("GET /openapi.json is an OpenAPI 3.1 document listing every non-SSE route with its method", async () => {
        const api = await open()
        const doc = await ok<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(get(api, "/openapi.json"))
        expect(doc.openapi).toMatch(/^3\.1\./)
        const routes: ReadonlyArray<readonly [string, string]> = [
          ["/trigger", "post"],
          ["/runs", "get"],
          ["/run", "get"],
          ["/run", "delete"],
          ["/steps", "get"],
          ["/cancel", "post"],
          ["/retry", "post"],
          ["/retrigger", "post"]
        ]
        for (const [path, method] of routes) {
          expect(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined()
        }
      })
    })

    describe("errors", () => {
      it("POST /trigger of an unknown job is 400 {error} and stores nothing", async () => {
        const api = await open()
        const body = await failsWith(post(api, "/trigger", { jobName: "nope", input: {} }), 400)
        expect(body.error).toMatch(/nope/)
        expect(await snapshot(api)).toEqual([])
      })

      it("POST /trigger with input failing the job's schema is 400 with issues naming the field", async () => {
        const api = await open()
        const body = await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: 5 } }), 400)
        expect(body.issues?.map((issue) => issue.path)).toContainEqual(["name"])
        for (const issue of body.issues ?? []) expect(typeof issue.message).toBe("string")
        const missing = await failsWith(post(api, "/trigger", { jobName: "greet", input: {} }), 400)
        expect(missing.issues?.map((issue) => issue.path)).toContainEqual(["name"])
        expect(await snapshot(api)).toEqual([])
      })

      it("a body that is not JSON, or not the trigger body, is 400 and stores nothing", async () => {
        const api = await open()
        await failsWith(post(api, "/trigger", "{not json"), 400)
        await failsWith(post(api, "/trigger", ""), 400)
        await failsWith(post(api, "/trigger", "[]"), 400)
        await failsWith(post(api, "/trigger", { input: { name: "a" } }), 400)
        await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: "a" }, coalesce: "wait" }), 400)
        const labels = await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: "a" }, labels: { org: 1 } }), 400)
        expect(labels.issues?.map((issue) => issue.path)).toContainEqual(["labels", "org"])
        const extra = await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: "a" }, extra: 1 }), 400)
        expect(extra.issues?.map((issue) => issue.path)).toContainEqual(["extra"])
        expect(await snapshot(api)).toEqual([])
      })

      it("missing or bad query parameters are 400, and a rejected write changes nothing", async () => {
        const api = await open()
        const runId = await greeted(api, "ann")
        const before = await snapshot(api)
        for (const path of ["/run", "/run?runId=", "/steps", "/subscribe"]) {
          const body = await failsWith(get(api, path), 400)
          expect(body.issues?.map((issue) => issue.path), path).toContainEqual(["runId"])
        }
        for (const path of ["/cancel", "/retry", "/retrigger"]) await failsWith(post(api, path), 400)
        await failsWith(del(api, "/run"), 400)
        for (const query of ["limit=abc", "limit=-1", "limit=1.5", "limit=1001", "offset=x"]) {
          const body = await failsWith(get(api, `/runs?${query}`), 400)
          const name = query.split("=")[0] ?? ""
          expect(body.issues?.map((issue) => issue.path), query).toContainEqual([name])
        }
        const status = await failsWith(get(api, "/runs?status=bogus"), 400)
        expect(status.issues?.map((issue) => issue.path)).toContainEqual(["status"])
        await failsWith(get(api, "/runs?label.=x"), 400)
        await failsWith(get(api, "/runs/subscribe?label.=x"), 400)
        expect(await snapshot(api)).toEqual(before)
        expect((await getRun(api, runId)).status).toBe("completed")
      })

      it("an unknown run is 404 on every run route", async () => {
        const api = await open()
        await greeted(api, "ann")
        const before = await snapshot(api)
        const missing = "01NOSUCHRUN000000000000000"
        await failsWith(get(api, `/run?runId=${missing}`), 404)
        await failsWith(get(api, `/steps?runId=${missing}`), 404)
        await failsWith(get(api, `/subscribe?runId=${missing}`), 404)
        for (const route of ["/cancel", "/retry", "/retrigger"]) await failsWith(post(api, `${route}?runId=${missing}`), 404)
        await failsWith(del(api, `/run?runId=${missing}`), 404)
        expect(await snapshot(api)).toEqual(before)
      })

      it("an illegal state change is 409 and leaves the run as it was", async () => {
        const api = await open()
        const done = await greeted(api, "ann")
        const doneBefore = await getRun(api, done)
        const conflict = await failsWith(post(api, `/cancel?runId=${done}`), 409)
        expect(conflict.error).toMatch(/completed/)
        await failsWith(post(api, `/retry?runId=${done}`), 409)
        expect(await getRun(api, done)).toEqual(doneBefore)

        const leased = await holding(api, "g")
        await failsWith(del(api, `/run?runId=${leased}`), 409)
        await failsWith(post(api, `/retry?runId=${leased}`), 409)
        expect((await getRun(api, leased)).status).toBe("leased")
        api.gates.open("g")
        await waitForStatus(api, leased, ["completed"])
      })

      it("an unknown route or method is 404 {error}", async () => {
        const api = await open()
        await failsWith(get(api, "/nope"), 404)
        await failsWith(api.fetch("/runs", { method: "PUT" }), 404)
        await failsWith(post(api, "/run?runId=x"), 404)
        await failsWith(post(api, "/runs", {}), 404)
        expect(await snapshot(api)).toEqual([])
      })

      it("a corrupt row is 500 with a bare {error}, and the API keeps answering", async () => {
        const api = await open()
        const runId = await greeted(api, "ann")
        const good = await greeted(api, "bob")
        await corruptInput(api.filename, runId)
        const body = await failsWith(get(api, `/run?runId=${runId}`), 500)
        expect(body.error).not.toMatch(/durably_runs|input|parse|json/i)
        await failsWith(get(api, "/runs"), 500)
        expect((await getRun(api, good)).status).toBe("completed")
      })
    })

    describe("server-sent events", () => {
      it("GET /subscribe streams a running run's events in order and ends by itself after the terminal one", async () => {
        const api = await open({ keepAliveMs: 50 })
        // The worker runs one run at a time: hold it, so the target waits as pending.
        const holder = await holding(api, "hold")
        const { runId } = await trigger(api, { jobName: "greet", input: { name: "ann" } })
        const stream = await openSse(api, `/subscribe?runId=${runId}`)
        await stream.live()
        api.gates.open("hold")
        const frames = await stream.toEnd("the run's events")
        const events = eventsOf(frames)
        expect(events.map((event) => event.type)).toEqual([
          "run:leased",
          "run:progress",
          "log:write",
          "step:start",
          "step:complete",
          "run:complete"
        ])
        for (const event of events) {
          expect(event).toMatchObject({ runId, jobName: "greet" })
          expect(new Date(String(event.timestamp)).toISOString()).toBe(event.timestamp)
        }
        expect(events[1]).toMatchObject({ progress: { current: 1, total: 2, message: "half" } })
        expect(events[2]).toMatchObject({ message: "greeting", level: "info", data: { name: "ann" } })
        expect(events[3]).toMatchObject({ stepName: "hello", stepIndex: 0 })
        expect(events[4]).toMatchObject({ stepName: "hello", stepIndex: 0, output: "hi ann" })
        expect(events[5]).toMatchObject({ output: { greeting: "hi ann" }, durationMs: expect.any(Number) })
        expect(events.some((event) => event.runId === holder)).toBe(false)
        await waitForStatus(api, holder, ["completed"])
      })

      it("GET /subscribe on a run already leased streams its remaining events", async () => {
        const api = await open({ keepAliveMs: 50 })
        const runId = await holding(api, "g")
        const stream = await openSse(api, `/subscribe?runId=${runId}`)
        await stream.live()
        api.gates.open("g")
        const events = eventsOf(await stream.toEnd("the run's events"))
        expect(events.map((event) => [event.type, event["stepName"]])).toEqual([
          ["step:complete", "wait"],
          ["step:start", "after"],
          ["step:complete", "after"],
          ["run:complete", undefined]
        ])
        expect(events.at(-1)).toMatchObject({ runId, output: { gate: "g" } })
      })

      it("GET /subscribe on a finished run sends its terminal event, then ends", async () => {
        const api = await open()
        const runId = await greeted(api, "ann")
        const completed = eventsOf(await (await openSse(api, `/subscribe?runId=${runId}`)).toEnd("the terminal event"))
        expect(completed).toEqual([
          expect.objectContaining({ type: "run:complete", runId, jobName: "greet", output: { greeting: "hi ann" } })
        ])

        const { runId: failedId } = await trigger(api, { jobName: "fail", input: {} })
        await waitForStatus(api, failedId, ["failed"])
        const failed = eventsOf(await (await openSse(api, `/subscribe?runId=${failedId}`)).toEnd("the terminal event"))
        expect(failed).toEqual([
          expect.objectContaining({ type: "run:fail", runId: failedId, failedStepName: "boom", error: expect.stringMatching(/boom/) })
        ])

        const cancelled = await holding(api, "g")
        await ok(post(api, `/cancel?runId=${cancelled}`))
        const cancel = eventsOf(await (await openSse(api, `/subscribe?runId=${cancelled}`)).toEnd("the terminal event"))
        expect(cancel).toEqual([expect.objectContaining({ type: "run:cancel", runId: cancelled })])
      })

      it("GET /subscribe of a pending run that is deleted ends with run:delete", async () => {
        const api = await open({ keepAliveMs: 50 })
        await holding(api, "hold")
        const { runId } = await trigger(api, { jobName: "greet", input: { name: "ann" } })
        const stream = await openSse(api, `/subscribe?runId=${runId}`)
        await stream.live()
        expect(await ok(del(api, `/run?runId=${runId}`))).toEqual({ success: true })
        expect(eventsOf(await stream.toEnd("the run:delete frame"))).toEqual([
          expect.objectContaining({ type: "run:delete", runId, jobName: "greet" })
        ])
      })

      it("GET /subscribe of an unknown run is a 404 JSON answer, not a stream", async () => {
        const api = await open()
        const res = await api.fetch("/subscribe?runId=nope")
        expect(res.headers.get("content-type")).not.toMatch(/event-stream/)
        await failsWith(res, 404)
      })

      it("sends a ': keep-alive' comment every keepAliveMs while the run is quiet", async () => {
        const api = await open({ keepAliveMs: 50 })
        const runId = await holding(api, "g")
        const stream = await openSse(api, `/subscribe?runId=${runId}`)
        const frames = await stream.until(
          () => stream.seen.filter((frame) => frame.kind === "comment").length >= 3,
          "three keep-alive comments"
        )
        expect(frames.every((frame) => frame.kind === "comment" && frame.text === "keep-alive")).toBe(true)
        api.gates.open("g")
        const rest = await stream.toEnd("the run's end")
        expect(typesOf(rest).at(-1)).toBe("run:complete")
      })

      it("throttles run:progress frames (latest wins) and sends the last progress before run:complete", async () => {
        const api = await open({ keepAliveMs: 50, progressThrottleMs: 100 })
        const { runId, stream } = await watchProgress(api, { gate: "g", count: 200 })
        const events = eventsOf(await stream.toEnd("the run's events", 20_000))
        const progress = events.filter((event) => event.type === "run:progress")
        expect(progress.length).toBeGreaterThan(0)
        expect(progress.length).toBeLessThanOrEqual(40)
        const currents = progress.map(currentOf)
        expect(currents).toEqual([...currents].sort((x, y) => x - y))
        const lastProgress = events.findLastIndex((event) => event.type === "run:progress")
        expect(events[lastProgress]).toMatchObject({ progress: { current: 200, total: 200 } })
        expect(events.findIndex((event) => event.type === "run:complete")).toBeGreaterThan(lastProgress)
        expect(events.at(-1)).toMatchObject({ type: "run:complete", output: { count: 200 } })
        expect((await getRun(api, runId)).progress).toEqual({ current: 200, total: 200 })
      })

      it("a held-back run:progress is sent when its interval is up, without waiting for the run's next event", async () => {
        const api = await open({ keepAliveMs: 50, progressThrottleMs: 100 })
        const { runId, stream } = await watchProgress(api, { gate: "g", count: 200, after: "g2" })
        // The run now waits, publishing nothing: only the throttle's timer can deliver 200/200.
        const frames = await stream.until(
          (frame) =>
            frame.kind === "event" &&
            frame.event.type === "run:progress" &&
            currentOf(frame.event) === 200,
          "the last progress while the run waits",
          5_000
        )
        expect(typesOf(frames)).not.toContain("step:start")
        expect((await getRun(api, runId)).status).toBe("leased")
        api.gates.open("g2")
        const rest = typesOf(await stream.toEnd("the run's end"))
        expect(rest).not.toContain("run:progress")
        expect(rest.at(-1)).toBe("run:complete")
      })

      it("with progressThrottleMs 0 every run:progress frame is sent, in order", async () => {
        const api = await open({ keepAliveMs: 50, progressThrottleMs: 0 })
        const { stream } = await watchProgress(api, { gate: "g", count: 200 })
        const events = eventsOf(await stream.toEnd("the run's events", 20_000))
        const currents = events.filter((event) => event.type === "run:progress").map(currentOf)
        expect(currents).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
        expect(events.at(-1)?.type).toBe("run:complete")
      })

      it("GET /runs/subscribe sees the trigger and completion of a run started by another request", async () => {
        const api = await open({ keepAliveMs: 50 })
        const stream = await openSse(api, "/runs/subscribe")
        await stream.live()
        const { runId } = await trigger(api, { jobName: "greet", input: { name: "ann" }, labels: { org: "a" } })
        const frames = await stream.until(
          (frame) => frame.kind === "event" && frame.event.runId === runId && frame.event.type === "run:complete",
          "the run's completion"
        )
        const ofRun = eventsOf(frames).filter((event) => event.runId === runId)
        expect(ofRun[0]).toMatchObject({ type: "run:trigger", runId, jobName: "greet", labels: { org: "a" } })
        expect(ofRun.map((event) => event.type)).toContain("run:leased")
        // Run-list changes only: no step or log events.
        expect(ofRun.map((event) => event.type).filter((type) => type.startsWith("step:") || type.startsWith("log:"))).toEqual([])
        expect(ofRun.at(-1)).toMatchObject({ type: "run:complete", output: { greeting: "hi ann" } })
      })

      it("GET /runs/subscribe?jobName= and label.K=V leave out runs that do not match", async () => {
        const api = await open({ keepAliveMs: 50 })
        const byJob = await openSse(api, "/runs/subscribe?jobName=greet")
        const byLabel = await openSse(api, "/runs/subscribe?label.org=a")
        const both = await openSse(api, "/runs/subscribe?jobName=greet&label.org=a")
        await Promise.all([byJob.live(), byLabel.live(), both.live()])

        // Non-matching runs first, to the end: anything of theirs would arrive before what follows.
        const { runId: failB } = await trigger(api, { jobName: "fail", input: {}, labels: { org: "b" } })
        await waitForStatus(api, failB, ["failed"])
        const greetB = await greeted(api, "b", { org: "b" })
        const { runId: failA } = await trigger(api, { jobName: "fail", input: {}, labels: { org: "a" } })
        await waitForStatus(api, failA, ["failed"])
        const greetA = await greeted(api, "a", { org: "a" })

        const completes = (runId: string) => (frame: Frame) =>
          frame.kind === "event" && frame.event.runId === runId && isTerminal(frame.event.type)
        const seenBy = async (stream: SseClient) =>
          new Set(eventsOf(await stream.until(completes(greetA), "the matching run's completion")).map((event) => event.runId))

        expect(await seenBy(byJob)).toEqual(new Set([greetB, greetA]))
        expect(await seenBy(byLabel)).toEqual(new Set([failA, greetA]))
        expect(await seenBy(both)).toEqual(new Set([greetA]))
      })

      it("GET /runs/subscribe with a label filter sees changes to matching runs made before it subscribed, deletion included", async () => {
        const api = await open({ keepAliveMs: 50 })
        const done = await greeted(api, "old", { org: "a" })
        const failed = (await trigger(api, { jobName: "fail", input: {}, labels: { org: "a" } })).runId
        await waitForStatus(api, failed, ["failed"])
        const byLabel = await openSse(api, "/runs/subscribe?label.org=a")
        const byJob = await openSse(api, "/runs/subscribe?jobName=greet")
        await Promise.all([byLabel.live(), byJob.live()])

        expect(await ok(post(api, `/retry?runId=${failed}`))).toEqual({ success: true })
        expect(await ok(del(api, `/run?runId=${done}`))).toEqual({ success: true })
        // A later matching run, so a missing frame shows at once instead of as a timeout.
        const { runId: marker } = await trigger(api, { jobName: "greet", input: { name: "marker" }, labels: { org: "a" } })
        const markerTrigger = (frame: Frame) => frame.kind === "event" && frame.event.runId === marker && frame.event.type === "run:trigger"

        const byJobEvents = eventsOf(await byJob.until(markerTrigger, "the marker run's trigger"))
        expect(byJobEvents.map((event) => [event.type, event.runId])).toContainEqual(["run:delete", done])

        const byLabelEvents = eventsOf(await byLabel.until(markerTrigger, "the marker run's trigger"))
        expect(byLabelEvents.map((event) => [event.type, event.runId])).toContainEqual(["run:retry", failed])
        expect(byLabelEvents.map((event) => [event.type, event.runId])).toContainEqual(["run:delete", done])
        await waitForStatus(api, marker, ["completed"])
      })
    })
  })

/** Overwrites a run's stored input with text that is not JSON, from a second connection. */
export const corruptInput = (filename: string, runId: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqliteClient.SqliteClient
      yield* sql`UPDATE durably_runs SET input = ${"{not json"} WHERE id = ${runId}`
    }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.orDie)
  )
