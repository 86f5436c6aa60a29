// Bad input over real HTTP: a seeded, deterministic generator sends well over
// a thousand malformed requests to a Node server (`NodeHttp.server` over
// `DurablyNode.sqlite` on a temporary file). Every answer must be a 4xx with a
// JSON body carrying a string `error` (HEAD answers have no body), and no
// answer may show internals (SQL, table names, the driver, stack frames).
// Afterwards the server still works and the database holds exactly the runs
// it held before.
import { Durably, Job, Step } from "@durably/core"
import { DurablyNode, NodeHttp } from "@durably/node"
import { HttpServer } from "@effect/platform"
import { Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

// --- the server ---------------------------------------------------------------

const greet = Job.make({
  name: "greet",
  input: Schema.Struct({ name: Schema.String }),
  run: ({ name }) =>
    Effect.gen(function* () {
      yield* Step.progress(1, 2, "half")
      return yield* Step.run("hello", Effect.succeed(`hi ${name}`))
    })
})

/** Takes any input at all, so only the HTTP layer and the store stand between a body and a run. */
const anything = Job.make({ name: "anything", input: Schema.Unknown, run: () => Effect.succeed("ok") })

let scope: Scope.CloseableScope
let dir: string
let base: string
let durably: Context.Tag.Service<Durably.Durably>
/** The ids of the runs seeded before any bad request; sorted. */
let seededIds: ReadonlyArray<string> = []
/** Seeded runs labelled `k=1` and `k=2`, for the repeated-label-filter probes. */
let labelled: { readonly k1: string; readonly k2: string } = { k1: "", k2: "" }

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const postJson = (path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } })

const trigger = async (body: unknown): Promise<string> => {
  const response = await postJson("/trigger", body)
  expect(response.status).toBe(200)
  const { runId } = (await response.json()) as { runId: string }
  return runId
}

/** Every run id in the database, read through the Durably service. */
const idsInService = () => run(Effect.map(durably.getRuns({ limit: 1000 }), (runs) => runs.map((r) => r.id).sort()))

/** Every run id, read through `GET /runs`. */
const idsOverHttp = async () => {
  const response = await fetch(`${base}/runs?limit=1000`)
  expect(response.status).toBe(200)
  return ((await response.json()) as Array<{ id: string }>).map((r) => r.id).sort()
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "durably-bad-input-"))
  scope = await run(Scope.make())
  const app = NodeHttp.server({ port: 0 }).pipe(
    Layer.provideMerge(DurablyNode.sqlite({ filename: join(dir, "durably.db"), jobs: [greet, anything], pollingInterval: "20 millis" }))
  )
  const context = await run(Layer.buildWithScope(app, scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
  durably = Context.get(context, Durably.Durably)

  const k1 = await trigger({ jobName: "greet", input: { name: "seed-1" }, labels: { team: "a", k: "1" } })
  const k2 = await trigger({ jobName: "greet", input: { name: "seed-2" }, labels: { team: "a", k: "2" } })
  await trigger({ jobName: "greet", input: { name: "seed-3" }, idempotencyKey: "seed-idem", concurrencyKey: "seed-c" })
  await trigger({ jobName: "anything", input: [1, "two", { three: 3 }] })
  labelled = { k1, k2 }
  // Wait for the seeds to finish, so nothing changes under the comparisons below.
  const deadline = Date.now() + 15_000
  for (;;) {
    const runs = await run(durably.getRuns({}))
    if (runs.length === 4 && runs.every((r) => r.status === "completed")) break
    if (Date.now() > deadline) throw new Error(`seeds did not complete: ${runs.map((r) => r.status).join(",")}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  seededIds = await idsInService()
}, 30_000)

afterAll(async () => {
  if (scope !== undefined) await run(Scope.close(scope, Exit.void))
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

// --- a seeded generator -------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const random = prng(0x5eed_b00c)
const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
const pick = <A>(items: ReadonlyArray<A>): A => {
  const item = items[int(0, items.length - 1)]
  if (item === undefined) throw new Error("pick from an empty list")
  return item
}
const ascii = (length: number, alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") =>
  Array.from({ length }, () => alphabet[int(0, alphabet.length - 1)]).join("")
/** Well-formed Unicode (no lone surrogates, so it can go in a URL): CJK, emoji, RTL, combining marks, NUL. */
const unicode = (length: number) =>
  Array.from({ length }, () =>
    String.fromCodePoint(
      pick([
        () => int(0x4e00, 0x9fff),
        () => int(0x1f300, 0x1f64f),
        () => int(0x0590, 0x05ff),
        () => int(0x0300, 0x036f),
        () => int(0x00a0, 0x00ff),
        () => 0,
        () => 0xfeff
      ])()
    )
  ).join("")
const bytes = (length: number) => Uint8Array.from({ length }, () => int(0, 255))

const sqlish = [
  "' OR 1=1 --",
  "'; DROP TABLE durably_runs; --",
  '" OR ""="',
  "1' UNION SELECT id, input FROM durably_runs --",
  "%' OR id LIKE '%",
  "\\'; --",
  "run') OR ('1'='1",
  "*/ SELECT 1 /*",
  "$1",
  "?",
  ":runId",
  "NULL",
  "0 OR 1",
  "'); INSERT INTO durably_runs (id) VALUES ('x'); --",
  "` OR sqlite_version() --"
] as const

/** Values of every JSON type (and then some), for fields that want something else. */
const wrongValues: ReadonlyArray<unknown> = [
  0,
  -1,
  3.14,
  1e308,
  true,
  false,
  null,
  [],
  ["greet"],
  {},
  { nested: { deeper: [1, 2, 3] } },
  [[[[]]]]
]

// --- probes -----------------------------------------------------------------

type Body = string | Uint8Array<ArrayBuffer> | URLSearchParams | FormData

interface Observed {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
}

interface Probe {
  readonly category: string
  readonly method: string
  readonly path: string
  readonly body?: Body
  readonly headers?: Record<string, string>
  /** A violation, if the answer is wrong; the default wants a 4xx JSON `{error}`. */
  readonly check?: (observed: Observed) => string | undefined
}

const probes: Array<Probe> = []
const add = (probe: Probe) => void probes.push(probe)
const json = { "content-type": "application/json" }
const triggerWith = (category: string, body: Body, headers: Record<string, string> = json) =>
  add({ category, method: "POST", path: "/trigger", body, headers })

const validTrigger = () =>
  pick([
    { jobName: "greet", input: { name: ascii(int(1, 12)) } },
    { jobName: "greet", input: { name: "x" }, labels: { team: "a" }, idempotencyKey: ascii(8) },
    { jobName: "anything", input: { any: [1, 2, 3] }, concurrencyKey: "c" },
    { jobName: "anything", input: null, coalesce: "skip", concurrencyKey: "c" }
  ] as const)

// 1. Bodies that are not a JSON object.
for (let i = 0; i < 60; i++) {
  const text = JSON.stringify(validTrigger())
  triggerWith("body: truncated JSON", text.slice(0, int(1, text.length - 1)))
}
for (let i = 0; i < 60; i++) triggerWith("body: binary bytes", bytes(int(1, 512)))
for (const body of ["", " ", "\n\t  \r\n", "\u0000", "\ufeff"]) triggerWith("body: empty or blank", body)
for (let i = 0; i < 5; i++) triggerWith("body: empty or blank", " ".repeat(int(1, 5000)))
for (const body of ["null", " null ", "[null]", "[[null]]"]) triggerWith("body: null", body)
for (let i = 0; i < 20; i++) {
  const items = Array.from({ length: int(0, 6) }, () => pick([...wrongValues, validTrigger(), "greet"]))
  triggerWith("body: JSON array", JSON.stringify(items))
}
for (const body of ["0", "42", "-1", "3.14", "1e309", "-1e309", "1e-400", "9007199254740993", "0x10", "NaN", "Infinity", "-0"]) {
  triggerWith("body: number", body)
}
for (let i = 0; i < 8; i++) triggerWith("body: number", String(int(-1e9, 1e9) / pick([1, 7, 1000])))
for (const body of ['"greet"', '""', "true", "false", `"${ascii(100)}"`, "undefined", "{jobName: 'greet', input: {}}", "{'jobName':'greet'}"]) {
  triggerWith("body: other JSON values and JSON5", body)
}
for (let i = 0; i < 10; i++) {
  triggerWith("body: trailing garbage", JSON.stringify(validTrigger()) + pick([" x", "}", "]", ",", "{}", "\u0000", ";DROP"]))
}
triggerWith("body: trailing garbage", "\ufeff" + JSON.stringify(validTrigger()))
triggerWith("body: trailing garbage", JSON.stringify(validTrigger()) + JSON.stringify(validTrigger()))

// 2. Wrong types for each trigger field (the other fields valid).
for (const field of ["jobName", "idempotencyKey", "concurrencyKey", "coalesce", "labels"] as const) {
  for (const value of wrongValues) {
    if (field === "labels" && typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) {
      continue // {} is a valid (empty) set of labels
    }
    triggerWith(`field: wrong type of ${field}`, JSON.stringify({ ...validTrigger(), [field]: value }))
  }
}
for (const jobName of ["", " "] as const) {
  triggerWith("field: wrong type of jobName", JSON.stringify({ jobName, input: {} }))
}
for (const coalesce of ["", "SKIP", "skip ", "wait", "yes", "always"]) {
  triggerWith("field: wrong type of coalesce", JSON.stringify({ jobName: "greet", input: { name: "x" }, coalesce }))
}
for (const labels of [{ a: 1 }, { a: null }, { a: true }, { a: [] }, { a: {} }, { a: "ok", b: 2 }, ["a", "b"], "team=a", [["k", "v"]]]) {
  triggerWith("field: wrong type of labels", JSON.stringify({ jobName: "greet", input: { name: "x" }, labels }))
}
for (let i = 0; i < 20; i++) {
  // `greet` wants `{ name: string }`.
  const input = pick<unknown>([...wrongValues, "x", { name: pick(wrongValues) }, { Name: "x" }, { name: undefined }])
  triggerWith("field: input failing the job's schema", JSON.stringify({ jobName: "greet", input }))
}
triggerWith("field: input failing the job's schema", JSON.stringify({ jobName: "greet" }))
for (let i = 0; i < 10; i++) {
  // Missing jobName, or given under another spelling.
  const { jobName: _jobName, ...rest } = validTrigger()
  triggerWith("field: missing or misspelt jobName", JSON.stringify({ ...rest, ...(i % 2 === 0 ? { [pick(["JobName", "jobname", "job_name", "job"])]: "greet" } : {}) }))
}

// 3. Unknown fields.
for (let i = 0; i < 50; i++) {
  const name = pick(["extra", "runId", "status", "id", "delay", "priority", "__proto__", "constructor", ascii(int(1, 30)), unicode(3)])
  const body = JSON.stringify({ ...validTrigger(), [name]: pick<unknown>([...wrongValues, "x", ascii(50)]) })
  // `{ "__proto__": … }` in an object literal sets the prototype; write the key out instead.
  triggerWith("body: unknown fields", name === "__proto__" ? body.replace(/}$/, ',"__proto__":{"x":1}}') : body)
}

// 4. Huge strings and deep nesting.
const megabyte = (c: string) => c.repeat(1024 * 1024)
for (let i = 0; i < 4; i++) {
  triggerWith("huge: 1 MB jobName", JSON.stringify({ jobName: megabyte(pick(["a", "g", "é"])), input: { name: "x" } }))
  triggerWith("huge: 1 MB idempotencyKey", JSON.stringify({ jobName: "greet", input: { name: "x" }, idempotencyKey: megabyte("i") }))
  triggerWith("huge: 1 MB concurrencyKey", JSON.stringify({ jobName: "anything", input: 1, concurrencyKey: megabyte("c") }))
  triggerWith("huge: 1 MB label value", JSON.stringify({ jobName: "anything", input: 1, labels: { team: megabyte("v") } }))
  triggerWith("huge: 1 MB label key", JSON.stringify({ jobName: "anything", input: 1, labels: { [megabyte("k")]: "v" } }))
}
for (const depth of [100_000, 200_000]) {
  for (const jobName of ["greet", "anything"]) {
    triggerWith("huge: deeply nested input", `{"jobName":"${jobName}","input":${"[".repeat(depth)}${"]".repeat(depth)}}`)
    triggerWith("huge: deeply nested input", `{"jobName":"${jobName}","input":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`)
  }
}

// 5. Bad or absent run ids on every run-level route.
const runRoutes = [
  ["GET", "/run"],
  ["GET", "/steps"],
  ["GET", "/subscribe"],
  ["POST", "/cancel"],
  ["POST", "/retry"],
  ["POST", "/retrigger"],
  ["DELETE", "/run"]
] as const
const badRunIdQueries = (): ReadonlyArray<string> => [
  "",
  "?",
  "?runId",
  "?runId=",
  "?runid=x",
  `?runId=${"x".repeat(10 * 1024)}`,
  `?runId=${ascii(201)}`,
  `?runId=${encodeURIComponent(unicode(int(1, 40)))}`,
  `?runId=${encodeURIComponent(pick(sqlish))}`,
  `?runId=${encodeURIComponent(pick(sqlish))}`,
  `?runId=${ascii(26, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")}`,
  `?runId=a&runId=b`,
  `?runId=${encodeURIComponent(pick(sqlish))}&runId=${ascii(5)}`,
  "?runId=%ZZ",
  "?runId=%00",
  "?runId=%20",
  "?runId[]=x",
  "?runId.x=1"
]
for (const [method, path] of runRoutes) {
  for (const query of badRunIdQueries()) add({ category: "runId: bad or absent", method, path: `${path}${query}` })
  for (let i = 0; i < 6; i++) {
    add({ category: "runId: bad or absent", method, path: `${path}?runId=${encodeURIComponent(pick([unicode(int(1, 30)), pick(sqlish), ascii(int(1, 200))]))}` })
  }
}

// 6. Bad label filters (both list routes; `/runs/subscribe` must refuse before streaming).
const labelQueries = (): ReadonlyArray<string> => [
  "label.=x",
  "label.=",
  `label.${"k".repeat(201)}=v`,
  `label.team=${"v".repeat(1001)}`,
  `label.team=${"v".repeat(int(1002, 12_000))}`,
  Array.from({ length: 100 }, (_, i) => `label.k${i}=v`).join("&"),
  Array.from({ length: 51 }, (_, i) => `label.k${i}=v`).join("&"),
  Array.from({ length: int(52, 99) }, () => `label.${ascii(int(1, 20))}=${ascii(int(0, 20))}`).join("&"),
  `label.=${encodeURIComponent(pick(sqlish))}`,
  `label.${encodeURIComponent(unicode(201))}=x`
]
for (const path of ["/runs", "/runs/subscribe"]) {
  for (let round = 0; round < 3; round++) {
    for (const query of labelQueries()) add({ category: "label filter: bad", method: "GET", path: `${path}?${query}` })
  }
}

// 7. Repeated label keys: refused, or answered for every filter given (AND: none; OR: both), never one dropped.
for (let i = 0; i < 10; i++) {
  const [first, second] = i % 2 === 0 ? ["1", "2"] : ["2", "1"]
  add({
    category: "label filter: repeated key",
    method: "GET",
    path: `/runs?label.k=${first}&label.k=${second}${i % 3 === 0 ? "&label.team=a" : ""}`,
    check: ({ status, text }) => {
      if (status >= 400 && status < 500) return jsonError({ status, contentType: "application/json", text })
      if (status !== 200) return `status ${status}`
      const ids = (JSON.parse(text) as Array<{ id: string }>).map((r) => r.id).filter((id) => id === labelled.k1 || id === labelled.k2)
      return ids.length === 1
        ? `label.k=${first}&label.k=${second} kept one filter and dropped the other: got only the run labelled k=${ids[0] === labelled.k1 ? "1" : "2"}`
        : undefined
    }
  })
}

// 8. Bad limit / offset (and other list filters).
const badCounts = ["-1", "-100", "1.5", "0.1", "1e309", "-1e309", "abc", "", " ", "1e400", "Infinity", "-Infinity", "NaN", "1001", "1,2", "+-1", "1e-5", "--1", "1 2", "%00", "9".repeat(30)]
for (const param of ["limit", "offset"]) {
  for (const value of badCounts) {
    if (param === "offset" && value === "1001") continue // a valid offset
    add({ category: "limit/offset: bad", method: "GET", path: `/runs?${param}=${value}` })
  }
  add({ category: "limit/offset: bad", method: "GET", path: `/runs?${param}=1&${param}=2` })
  for (let i = 0; i < 10; i++) {
    add({ category: "limit/offset: bad", method: "GET", path: `/runs?jobName=greet&${param}=${pick(badCounts)}&status=completed` })
  }
}
add({ category: "limit/offset: bad", method: "GET", path: "/runs?offset=9007199254740993" })
for (const query of ["status=bogus", "status=COMPLETED", "status=completed&status=nope", `jobName=${"j".repeat(201)}`, "status=", `jobName=${"j".repeat(201)}&jobName=greet`]) {
  add({ category: "limit/offset: bad", method: "GET", path: `/runs?${query}` })
}
add({ category: "limit/offset: bad", method: "GET", path: `/runs/subscribe?jobName=${"j".repeat(201)}` })

// 9. Wrong methods on every route.
const routes: Record<string, ReadonlyArray<string>> = {
  "/trigger": ["POST"],
  "/runs": ["GET", "HEAD"],
  "/run?runId=x": ["GET", "HEAD", "DELETE"],
  "/steps?runId=x": ["GET", "HEAD"],
  "/subscribe?runId=x": ["GET", "HEAD"],
  "/runs/subscribe": ["GET", "HEAD"],
  "/cancel?runId=x": ["POST"],
  "/retry?runId=x": ["POST"],
  "/retrigger?runId=x": ["POST"],
  "/openapi.json": ["GET", "HEAD"]
}
for (const [path, allowed] of Object.entries(routes)) {
  for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
    if (allowed.includes(method)) continue
    add({ category: "method: wrong for the route", method, path })
    if (method !== "GET" && method !== "HEAD") {
      add({ category: "method: wrong for the route", method, path, body: JSON.stringify(validTrigger()), headers: json })
      add({ category: "method: wrong for the route", method, path, body: bytes(64), headers: json })
    }
  }
}

// 10. Unknown paths.
// (Routes match case-insensitively, so `/TRIGGER` is not an unknown path.)
const segments = ["api", "v1", "runs", "run", "trigger", "steps", "subscribe", "x", "..", "%2e%2e", "%2f", "admin", "durably", "openapi.yaml", "index.html", "favicon.ico", "1"]
for (let i = 0; i < 90; i++) {
  const parts = Array.from({ length: int(1, 4) }, () => pick([pick(segments), ascii(int(1, 12)), encodeURIComponent(unicode(int(1, 4)))]))
  const path = `/${parts.join("/")}`
  if (Object.keys(routes).some((route) => route.split("?")[0] === path.toLowerCase())) continue
  add({ category: "path: unknown", method: pick(["GET", "GET", "POST", "DELETE", "HEAD"]), path })
}
for (const path of ["/", "/api/trigger", "/trigger/x", "/runs/x", "/run/01ABC", "/openapi", `/${"p".repeat(10_000)}`, "/%00", "/.env", "/../../etc/passwd"]) {
  add({ category: "path: unknown", method: "GET", path })
  add({ category: "path: unknown", method: "POST", path, body: JSON.stringify(validTrigger()), headers: json })
}

// 11. Wrong content types on a trigger.
const form = (fields: Record<string, string>) => new URLSearchParams(fields)
const multipart = (fields: Record<string, string>) => {
  const data = new FormData()
  for (const [key, value] of Object.entries(fields)) data.set(key, value)
  return data
}
for (let i = 0; i < 3; i++) {
  const body = JSON.stringify(validTrigger())
  for (const contentType of [
    "text/plain",
    "text/html",
    "application/xml",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=nope",
    "image/png",
    "*/*",
    "garbage"
  ]) {
    triggerWith("content-type: wrong", body, { "content-type": contentType })
  }
  triggerWith("content-type: wrong", body, {}) // fetch labels a string body text/plain
}
// Forms an HTML page on any site can post without a preflight, with fields that would make a valid trigger.
for (const fields of [
  { jobName: "anything", input: "x" },
  { jobName: "anything", input: "{}" },
  { jobName: "greet", input: '{"name":"x"}' },
  { jobName: "anything", input: "x", idempotencyKey: "form" }
]) {
  triggerWith("content-type: form bodies", form(fields), {})
  triggerWith("content-type: form bodies", multipart(fields), {})
}
for (let i = 0; i < 4; i++) {
  triggerWith("content-type: form bodies", "--x\r\nContent-Disposition: form-data; name=\"jobName\"\r\n\r\nanything\r\n--x", {
    "content-type": "multipart/form-data; boundary=x"
  })
  triggerWith("content-type: form bodies", bytes(300), { "content-type": `multipart/form-data; boundary=${ascii(10)}` })
}

// 12. Valid shape, rejected by the engine: nothing may be written.
for (let i = 0; i < 30; i++) {
  triggerWith("valid shape: unknown job", JSON.stringify({ ...validTrigger(), jobName: pick([ascii(int(1, 40)), unicode(5), pick(sqlish), "Greet", "greet ", " greet", "greet\u0000"]) }))
}
for (let i = 0; i < 20; i++) {
  triggerWith("valid shape: input failing the schema", JSON.stringify({ jobName: "greet", input: { name: pick(wrongValues) }, labels: { team: "a" } }))
}

// 13. Request lines beyond Node's 16 KB header limit never reach the app: Node answers 431 by itself.
for (let i = 0; i < 4; i++) {
  add({
    category: "transport: request line over 16 KB",
    method: "GET",
    path: pick([`/runs?label.team=${"v".repeat(20_000)}`, `/run?runId=${"x".repeat(60_000)}`, `/${"p".repeat(20_000)}`]),
    check: ({ status }) => (status === 431 || status === 414 ? undefined : `status ${status}, wanted 431 from Node`)
  })
}

// --- answers ------------------------------------------------------------------

/** Things an answer must never show, unless the request itself contained them (then it may be an echo). */
const internals = [
  "SELECT",
  "INSERT",
  "UPDATE durably",
  "sqlite",
  "durably_runs",
  "durably_steps",
  "durably_run_labels",
  "node_modules",
  "Maximum call stack",
  "RangeError",
  "SqlError",
  "better-sqlite3",
  "SQLITE_"
]
const stackFrame = /\n\s+at\s|\bat .+ \(.+:\d+:\d+\)|\.(?:ts|js|mjs|cjs):\d+:\d+/

const formText = (data: FormData) => {
  const fields: Array<string> = []
  data.forEach((value, key) => fields.push(`${key}=${typeof value === "string" ? value : value.name}`))
  return fields.join("&")
}

const requestText = (probe: Probe) => {
  const body =
    probe.body === undefined
      ? ""
      : typeof probe.body === "string"
        ? probe.body
        : probe.body instanceof Uint8Array
          ? new TextDecoder().decode(probe.body)
          : probe.body instanceof URLSearchParams
            ? probe.body.toString()
            : formText(probe.body)
  let path = probe.path
  try {
    path = decodeURIComponent(probe.path)
  } catch {
    // not decodable: keep it as sent
  }
  return `${probe.path} ${path} ${body}`.toLowerCase()
}

const leaks = (probe: Probe, text: string): string | undefined => {
  const sent = requestText(probe)
  const lower = text.toLowerCase()
  const leaked = internals.find((token) => lower.includes(token.toLowerCase()) && !sent.includes(token.toLowerCase()))
  if (leaked !== undefined) return `body shows internals (${leaked})`
  if (stackFrame.test(text)) return "body shows a stack frame"
  return undefined
}

/** A 4xx with a JSON body whose `error` is a string (and whose `issues`, if any, are well formed). */
const jsonError = ({ contentType, status, text }: Observed): string | undefined => {
  if (status < 400 || status >= 500) return `status ${status}`
  if (!(contentType ?? "").includes("application/json")) return `content-type ${contentType}`
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return "body is not JSON"
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body is not a JSON object"
  if (!("error" in body) || typeof body.error !== "string" || body.error.length === 0) return "no string `error`"
  if ("issues" in body) {
    const issues = body.issues
    if (!Array.isArray(issues)) return "`issues` is not an array"
    for (const issue of issues as Array<unknown>) {
      if (typeof issue !== "object" || issue === null || !("path" in issue) || !("message" in issue)) return "malformed issue"
      if (!Array.isArray(issue.path) || typeof issue.message !== "string") return "malformed issue"
    }
  }
  return undefined
}

const send = async (probe: Probe): Promise<string | undefined> => {
  let response: Response
  try {
    response = await fetch(`${base}${probe.path}`, {
      method: probe.method,
      ...(probe.body === undefined ? {} : { body: probe.body }),
      headers: probe.headers ?? {},
      signal: AbortSignal.timeout(15_000)
    })
  } catch (error) {
    return `no answer (${String(error)})`
  }
  const contentType = response.headers.get("content-type")
  if ((contentType ?? "").includes("text/event-stream")) {
    await response.body?.cancel()
    return `status ${response.status}, an event stream instead of an error`
  }
  const text = await response.text()
  const observed: Observed = { status: response.status, contentType, text }
  const leak = leaks(probe, text)
  if (leak !== undefined) return leak
  if (probe.check !== undefined) return probe.check(observed)
  if (probe.method === "HEAD") {
    return observed.status >= 400 && observed.status < 500 && text === "" ? undefined : `HEAD: status ${observed.status}`
  }
  return jsonError(observed)
}

/** Runs `f` over `items`, at most `limit` at a time, keeping the order of results. */
const pool = async <A, B>(items: ReadonlyArray<A>, limit: number, f: (item: A) => Promise<B>): Promise<Array<B>> => {
  const results: Array<B> = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await f(items[index] as A)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

const describeProbe = (probe: Probe) => {
  const body =
    probe.body === undefined
      ? ""
      : typeof probe.body === "string"
        ? ` ${probe.body.length > 120 ? `${probe.body.slice(0, 100)}… (${probe.body.length} chars)` : probe.body}`
        : ` <${probe.body.constructor.name}>`
  const path = probe.path.length > 120 ? `${probe.path.slice(0, 100)}… (${probe.path.length} chars)` : probe.path
  const type = probe.headers?.["content-type"]
  return `${probe.method} ${path}${type === undefined ? "" : ` [${type}]`}${body}`
}

// --- tests ----------------------------------------------------------------------

const categories = [...new Set(probes.map((probe) => probe.category))]

describe("malformed requests against a real Node server", () => {
  it("the generator is deterministic and makes over a thousand requests", () => {
    expect(probes.length).toBeGreaterThanOrEqual(1000)
    const counts = Object.fromEntries(categories.map((category) => [category, probes.filter((p) => p.category === category).length]))
    console.log(`${probes.length} malformed requests:`, counts)
  })

  for (const category of categories) {
    const batch = probes.filter((probe) => probe.category === category)
    it(`${category} (${batch.length} requests): 4xx, a JSON string \`error\`, no internals`, async () => {
      const verdicts = await pool(batch, 16, send)
      const violations = batch.flatMap((probe, index) => {
        const verdict = verdicts[index]
        return verdict === undefined ? [] : [`${describeProbe(probe)} → ${verdict}`]
      })
      expect(violations.slice(0, 8), `${violations.length} of ${batch.length} answers were wrong`).toEqual([])
    }, 60_000)
  }

  it("a valid-shape trigger the engine rejects (unknown job, input failing the schema) writes nothing", async () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ jobName: "no-such-job", input: { name: "x" } }, "job not found"],
      [{ jobName: "Greet", input: { name: "x" }, idempotencyKey: "rejected-1" }, "job not found"],
      [{ jobName: "greet", input: { name: 42 }, labels: { team: "a" } }, "name"],
      [{ jobName: "greet", input: {}, idempotencyKey: "rejected-2" }, "name"],
      [{ jobName: "greet", input: null, concurrencyKey: "c" }, "input of greet"]
    ]
    for (const [body, mentions] of cases) {
      const before = await idsInService()
      const response = await postJson("/trigger", body)
      expect(response.status).toBe(400)
      const answer = (await response.json()) as { error: unknown; issues?: Array<{ path: Array<unknown> }> }
      expect(typeof answer.error).toBe("string")
      expect(String(answer.error)).toContain(mentions)
      if (mentions === "name") expect(answer.issues?.map((issue) => issue.path)).toContainEqual(["name"])
      expect(await idsInService()).toEqual(before)
    }
  })

  it("after the batch the database holds exactly the runs it held before (via GET /runs and the Durably service)", async () => {
    const inService = await idsInService()
    const extra = await run(durably.getRuns({ limit: 1000 })).then((runs) =>
      runs
        .filter((r) => !seededIds.includes(r.id))
        .map((r) => {
          const input = JSON.stringify(r.input) ?? "undefined"
          const labels = Object.entries(r.labels).map(([key, value]) => `${key.slice(0, 10)}(${key.length})=${value.slice(0, 10)}(${value.length})`)
          return `${r.jobName} input=${input.slice(0, 40)} labels={${labels.join(",")}} idempotencyKey=${r.idempotencyKey ?? "-"}`
        })
    )
    expect(extra, "runs written by rejected requests").toEqual([])
    expect(inService).toEqual(seededIds)
    expect(await idsOverHttp()).toEqual(seededIds)
    // The seeds themselves are untouched.
    const seeds = await run(durably.getRuns({}))
    expect(seeds.every((r) => r.status === "completed")).toBe(true)
  })

  it("the server still answers a valid trigger with 200 and runs it", async () => {
    const before = await idsOverHttp()
    const response = await postJson("/trigger", { jobName: "greet", input: { name: "after" }, labels: { team: "b" } })
    expect(response.status).toBe(200)
    const { disposition, runId } = (await response.json()) as { runId: string; disposition: string }
    expect(disposition).toBe("created")
    const done = await run(durably.waitForRun(runId, { timeout: "10 seconds" }))
    expect(done.status).toBe("completed")
    expect(done.output).toBe("hi after")
    const one = await fetch(`${base}/run?runId=${runId}`)
    expect(one.status).toBe(200)
    expect(((await one.json()) as { id: string }).id).toBe(runId)
    expect(await idsOverHttp()).toEqual([...before, runId].sort())
  })
})
