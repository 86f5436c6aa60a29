// Auth hooks of the HTTP API (SPEC §7): a rejected request gets 401/403 and
// touches nothing; `scopeRuns` narrows the run list and its event stream; and
// leaving out `authenticate` bypasses no check. One policy, written once, is
// served two ways: as Effect hooks (`DurablyHttp.Auth`, failing with
// `Unauthorized` / `Forbidden`) through `DurablyHttp.toWebHandler`, and as async
// hooks that throw a `Response` or an `Error` through the facade's
// `createDurablyHandler`.
import type { Run } from "@durably/core/Run"
import type { RunFilter } from "@durably/core/Store"
import type { DurablyApi, DurablyHttp } from "@durably/http"
import { Forbidden, Unauthorized } from "@durably/http/DurablyApi"
import type { AuthConfig } from "durably"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { Api, Frame, SseClient } from "./routesSuite.js"
import {
  del,
  eventsOf,
  failsWith,
  get,
  getRun,
  ok,
  openFacadeApi,
  openSse,
  openWebApi,
  post,
  runIds,
  snapshot,
  trigger,
  waitForStatus
} from "./routesSuite.js"

// --- one policy, two forms ------------------------------------------------------

interface Caller {
  readonly org: string
  readonly admin: boolean
}

interface Reject {
  readonly reject: string
}

const isReject = (value: unknown): value is Reject => typeof value === "object" && value !== null && "reject" in value

type Operation = DurablyHttp.RunOperation

/** The hooks as plain functions of the `authorization` header; each may answer a rejection. */
interface Policy {
  readonly authenticate?: (authorization: string | null) => Caller | undefined | Reject
  readonly onTrigger?: (ctx: Caller | undefined, body: DurablyApi.TriggerBody) => Reject | undefined
  readonly onRunAccess?: (ctx: Caller | undefined, run: Run, operation: Operation) => Reject | undefined
  readonly scopeRuns?: (ctx: Caller | undefined, filter: RunFilter) => RunFilter | Reject
}

/** The policy as Effect hooks for `DurablyHttp.toWebHandler`. */
const effectAuth = (policy: Policy): DurablyHttp.Auth<Caller> => {
  const { authenticate, onRunAccess, onTrigger, scopeRuns } = policy
  return {
    ...(authenticate === undefined
      ? {}
      : {
          authenticate: (request) => {
            const header = request.headers["authorization"]
            const caller = authenticate(header ?? null)
            return isReject(caller) ? Effect.fail(new Unauthorized({ error: caller.reject })) : Effect.succeed(caller)
          }
        }),
    ...(onTrigger === undefined
      ? {}
      : {
          onTrigger: (ctx, body) => {
            const verdict = onTrigger(ctx, body)
            return verdict === undefined ? Effect.void : Effect.fail(new Forbidden({ error: verdict.reject }))
          }
        }),
    ...(onRunAccess === undefined
      ? {}
      : {
          onRunAccess: (ctx, run, { operation }) => {
            const verdict = onRunAccess(ctx, run, operation)
            return verdict === undefined ? Effect.void : Effect.fail(new Forbidden({ error: verdict.reject }))
          }
        }),
    ...(scopeRuns === undefined
      ? {}
      : {
          scopeRuns: (ctx, filter) => {
            const scoped = scopeRuns(ctx, filter)
            return isReject(scoped) ? Effect.fail(new Forbidden({ error: scoped.reject })) : Effect.succeed(scoped)
          }
        })
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The policy as async hooks for `createDurablyHandler`: `authenticate` throws a
 * 401 `Response` (with the message as its status text) or, without a header, an
 * `Error`; `onTrigger` and `scopeRuns` throw an `Error`; `onRunAccess` throws a
 * 403 `Response`.
 */
const facadeAuth = (policy: Policy): AuthConfig<Caller> => {
  const { authenticate, onRunAccess, onTrigger, scopeRuns } = policy
  return {
    ...(authenticate === undefined
      ? {}
      : {
          authenticate: async (request: Request) => {
            await tick()
            const header = request.headers.get("authorization")
            const caller = authenticate(header)
            if (!isReject(caller)) return caller
            if (header === null) throw new Error(caller.reject)
            throw new Response(null, { status: 401, statusText: caller.reject })
          }
        }),
    ...(onTrigger === undefined
      ? {}
      : {
          onTrigger: async (ctx: Caller | undefined, body: DurablyApi.TriggerBody) => {
            await tick()
            const verdict = onTrigger(ctx, body)
            if (verdict !== undefined) throw new Error(verdict.reject)
          }
        }),
    ...(onRunAccess === undefined
      ? {}
      : {
          onRunAccess: async (ctx: Caller | undefined, run: Run, info: { readonly operation: Operation }) => {
            await tick()
            const verdict = onRunAccess(ctx, run, info.operation)
            if (verdict !== undefined) throw new Response("refused", { status: 403, statusText: verdict.reject })
          }
        }),
    ...(scopeRuns === undefined
      ? {}
      : {
          scopeRuns: async (ctx: Caller | undefined, filter: RunFilter) => {
            await tick()
            const scoped = scopeRuns(ctx, filter)
            if (isReject(scoped)) throw new Error(scoped.reject)
            return scoped
          }
        })
  }
}

// --- the tenant policy ------------------------------------------------------------

/** What the hooks were called with, in order. */
type Call =
  | { readonly hook: "onTrigger"; readonly ctx: Caller | undefined; readonly jobName: string }
  | { readonly hook: "onRunAccess"; readonly ctx: Caller | undefined; readonly runId: string; readonly operation: Operation }
  | { readonly hook: "scopeRuns"; readonly ctx: Caller | undefined; readonly filter: RunFilter }

const admin = { authorization: "admin" }
const orgA = { authorization: "org:a" }
const orgB = { authorization: "org:b" }
const nobody = { authorization: "org:nobody" }

/**
 * `admin` may do anything; `org:X` only touches runs labelled `org: X` and
 * sees only those; `org:nobody` may list nothing; any other caller is not
 * authenticated.
 */
const tenantPolicy = (calls: Array<Call>): Policy => ({
  authenticate: (authorization) => {
    if (authorization === "admin") return { org: "*", admin: true }
    if (authorization?.startsWith("org:") === true) return { org: authorization.slice(4), admin: false }
    return { reject: "who are you?" }
  },
  onTrigger: (ctx, body) => {
    calls.push({ hook: "onTrigger", ctx, jobName: body.jobName })
    return ctx?.admin === true || (ctx !== undefined && body.labels?.["org"] === ctx.org) ? undefined : { reject: "not your org" }
  },
  onRunAccess: (ctx, run, operation) => {
    calls.push({ hook: "onRunAccess", ctx, runId: run.id, operation })
    return ctx?.admin === true || (ctx !== undefined && run.labels["org"] === ctx.org) ? undefined : { reject: "not your run" }
  },
  scopeRuns: (ctx, filter) => {
    calls.push({ hook: "scopeRuns", ctx, filter })
    if (ctx?.org === "nobody") return { reject: "no runs for you" }
    return ctx?.admin === true ? filter : { ...filter, labels: { ...filter.labels, org: ctx?.org ?? "-" } }
  }
})

type OpenWithPolicy = (policy: Policy) => Promise<Api>

const servings: ReadonlyArray<readonly [string, OpenWithPolicy]> = [
  ["Effect hooks, DurablyHttp.toWebHandler", (policy) => openWebApi({ auth: effectAuth(policy), keepAliveMs: 50 })],
  ["async hooks, createDurablyHandler", (policy) => openFacadeApi({ auth: facadeAuth(policy), keepAliveMs: 50 })]
]

const runEnds = (runId: string) => (frame: Frame) =>
  frame.kind === "event" &&
  frame.event.runId === runId &&
  (frame.event.type === "run:complete" || frame.event.type === "run:fail" || frame.event.type === "run:cancel")

describe.each(servings)("auth (%s)", (_, openWithPolicy) => {
  const opened: Array<Api> = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((api) => api.close()))
  })
  const open = async (policy: Policy) => {
    const api = await openWithPolicy(policy)
    opened.push(api)
    return api
  }

  /** Runs of org `a` in each state a run operation needs: completed, failed and leased (held at its gate). */
  const seed = async (api: Api) => {
    const completed = (await trigger(api, { jobName: "greet", input: { name: "a" }, labels: { org: "a" } }, admin)).runId
    await waitForStatus(api, completed, ["completed"], admin)
    const failed = (await trigger(api, { jobName: "fail", input: {}, labels: { org: "a" } }, admin)).runId
    await waitForStatus(api, failed, ["failed"], admin)
    const leased = (await trigger(api, { jobName: "gated", input: { gate: "g" }, labels: { org: "a" } }, admin)).runId
    await waitForStatus(api, leased, ["leased"], admin)
    return { completed, failed, leased }
  }

  it("authenticate rejecting is 401 {error} on every route, calls no other hook and changes nothing", async () => {
    const calls: Array<Call> = []
    const api = await open(tenantPolicy(calls))
    const { completed, failed, leased } = await seed(api)
    const before = await snapshot(api, admin)
    calls.length = 0

    for (const headers of [{}, { authorization: "bad" }]) {
      const requests: ReadonlyArray<readonly [string, () => Promise<Response>]> = [
        ["POST /trigger", () => post(api, "/trigger", { jobName: "greet", input: { name: "x" }, labels: { org: "a" } }, headers)],
        ["GET /runs", () => get(api, "/runs", headers)],
        ["GET /run", () => get(api, `/run?runId=${completed}`, headers)],
        ["GET /run (unknown run)", () => get(api, "/run?runId=nope", headers)],
        ["GET /steps", () => get(api, `/steps?runId=${completed}`, headers)],
        ["GET /subscribe", () => get(api, `/subscribe?runId=${leased}`, headers)],
        ["GET /runs/subscribe", () => get(api, "/runs/subscribe", headers)],
        ["POST /cancel", () => post(api, `/cancel?runId=${leased}`, undefined, headers)],
        ["POST /retry", () => post(api, `/retry?runId=${failed}`, undefined, headers)],
        ["POST /retrigger", () => post(api, `/retrigger?runId=${completed}`, undefined, headers)],
        ["DELETE /run", () => del(api, `/run?runId=${completed}`, headers)]
      ]
      for (const [what, request] of requests) {
        const body = await failsWith(request(), 401).catch((error: unknown) => {
          throw new Error(`${what} with ${JSON.stringify(headers)}: ${String(error)}`)
        })
        expect(body.error, what).toBe("who are you?")
      }
    }
    expect(calls).toEqual([])
    expect(await snapshot(api, admin)).toEqual(before)
    expect((await getRun(api, leased, admin)).status).toBe("leased")
  })

  it("onTrigger rejecting is 403 {error} and stores nothing; it sees the caller and the body", async () => {
    const calls: Array<Call> = []
    const api = await open(tenantPolicy(calls))
    const wrongOrg = await failsWith(
      post(api, "/trigger", { jobName: "greet", input: { name: "x" }, labels: { org: "b" } }, orgA),
      403
    )
    expect(wrongOrg.error).toBe("not your org")
    await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: "x" } }, orgA), 403)
    // The hook runs before the job is looked up or its input checked.
    await failsWith(post(api, "/trigger", { jobName: "nope", input: {} }, orgA), 403)
    await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: 1 } }, orgA), 403)
    expect(await snapshot(api, admin)).toEqual([])
    expect(calls.filter((call) => call.hook === "onTrigger")).toEqual([
      { hook: "onTrigger", ctx: { org: "a", admin: false }, jobName: "greet" },
      { hook: "onTrigger", ctx: { org: "a", admin: false }, jobName: "greet" },
      { hook: "onTrigger", ctx: { org: "a", admin: false }, jobName: "nope" },
      { hook: "onTrigger", ctx: { org: "a", admin: false }, jobName: "greet" }
    ])

    const allowed = await trigger(api, { jobName: "greet", input: { name: "x" }, labels: { org: "a" } }, orgA)
    expect(allowed.disposition).toBe("created")
    expect(await runIds(api, "", admin)).toEqual([allowed.runId])
  })

  it("onRunAccess rejecting is 403 for each operation and leaves the run as it was", async () => {
    const calls: Array<Call> = []
    const api = await open(tenantPolicy(calls))
    const { completed, failed, leased } = await seed(api)
    const before = await snapshot(api, admin)
    const runsBefore = await Promise.all([completed, failed, leased].map((id) => getRun(api, id, admin)))
    calls.length = 0

    const attempts: ReadonlyArray<readonly [Operation, string, () => Promise<Response>]> = [
      ["read", completed, () => get(api, `/run?runId=${completed}`, orgB)],
      ["steps", completed, () => get(api, `/steps?runId=${completed}`, orgB)],
      ["subscribe", leased, () => get(api, `/subscribe?runId=${leased}`, orgB)],
      ["cancel", leased, () => post(api, `/cancel?runId=${leased}`, undefined, orgB)],
      ["retry", failed, () => post(api, `/retry?runId=${failed}`, undefined, orgB)],
      ["retrigger", completed, () => post(api, `/retrigger?runId=${completed}`, undefined, orgB)],
      ["delete", completed, () => del(api, `/run?runId=${completed}`, orgB)]
    ]
    for (const [operation, , request] of attempts) {
      const res = await request()
      expect(res.headers.get("content-type"), operation).not.toMatch(/event-stream/)
      const body = await failsWith(res, 403)
      expect(body.error, operation).toBe("not your run")
    }
    expect(calls).toEqual(
      attempts.map(([operation, runId]) => ({ hook: "onRunAccess", ctx: { org: "b", admin: false }, runId, operation }))
    )
    expect(await snapshot(api, admin)).toEqual(before)
    expect(await Promise.all([completed, failed, leased].map((id) => getRun(api, id, admin)))).toEqual(runsBefore)

    // The owner is let through, for the same operations.
    expect((await getRun(api, completed, orgA)).id).toBe(completed)
    expect(await ok(get(api, `/steps?runId=${completed}`, orgA))).toEqual([expect.objectContaining({ name: "hello" })])
    const stream = await openSse(api, `/subscribe?runId=${completed}`, orgA)
    expect(eventsOf(await stream.toEnd("the terminal event"))).toEqual([
      expect.objectContaining({ type: "run:complete", runId: completed })
    ])
    expect(await ok(post(api, `/cancel?runId=${leased}`, undefined, orgA))).toEqual({ success: true })
    expect(await ok(post(api, `/retry?runId=${failed}`, undefined, orgA))).toEqual({ success: true })
    expect((await ok<{ runId: string }>(post(api, `/retrigger?runId=${completed}`, undefined, orgA))).runId).not.toBe(completed)
    expect(await ok(del(api, `/run?runId=${completed}`, orgA))).toEqual({ success: true })
  })

  it("scopeRuns narrows GET /runs to the caller's runs, and is given the request's filter", async () => {
    const calls: Array<Call> = []
    const api = await open(tenantPolicy(calls))
    const a = (await trigger(api, { jobName: "greet", input: { name: "a" }, labels: { org: "a" } }, admin)).runId
    const b = (await trigger(api, { jobName: "greet", input: { name: "b" }, labels: { org: "b" } }, admin)).runId
    await waitForStatus(api, a, ["completed"], admin)
    await waitForStatus(api, b, ["completed"], admin)

    expect(await runIds(api, "", orgA)).toEqual([a])
    expect(await runIds(api, "", orgB)).toEqual([b])
    expect(await runIds(api, "?jobName=greet&status=completed", orgA)).toEqual([a])
    expect(await runIds(api, "", admin)).toEqual([a, b].sort())
    const refused = await failsWith(get(api, "/runs", nobody), 403)
    expect(refused.error).toBe("no runs for you")

    calls.length = 0
    await ok(get(api, "/runs?jobName=greet&status=completed&status=failed&label.tier=gold&limit=5&offset=1", orgA))
    expect(calls).toEqual([
      {
        hook: "scopeRuns",
        ctx: { org: "a", admin: false },
        filter: expect.objectContaining({
          jobName: ["greet"],
          status: ["completed", "failed"],
          labels: { tier: "gold" },
          limit: 5,
          offset: 1
        })
      }
    ])
  })

  it("scopeRuns narrows GET /runs/subscribe: the caller sees only its own runs' events", async () => {
    const calls: Array<Call> = []
    const api = await open(tenantPolicy(calls))
    const mine: SseClient = await openSse(api, "/runs/subscribe", orgA)
    await mine.live()
    await failsWith(get(api, "/runs/subscribe", nobody), 403)

    // Another tenant's run first, to the end: anything of it would arrive before what follows.
    const other = (await trigger(api, { jobName: "greet", input: { name: "b" }, labels: { org: "b" } }, orgB)).runId
    await waitForStatus(api, other, ["completed"], admin)
    const own = (await trigger(api, { jobName: "greet", input: { name: "a" }, labels: { org: "a" } }, orgA)).runId
    const events = eventsOf(await mine.until(runEnds(own), "the caller's run to end"))
    expect(new Set(events.map((event) => event.runId))).toEqual(new Set([own]))
    expect(events[0]).toMatchObject({ type: "run:trigger", runId: own })
    expect(calls.filter((call) => call.hook === "scopeRuns").map((call) => call.ctx)).toEqual([
      { org: "a", admin: false },
      { org: "nobody", admin: false }
    ])
  })

  it("a scoped GET /runs/subscribe sees changes to the caller's runs made before it subscribed, deletion included", async () => {
    const api = await open(tenantPolicy([]))
    const old = (await trigger(api, { jobName: "greet", input: { name: "a" }, labels: { org: "a" } }, orgA)).runId
    await waitForStatus(api, old, ["completed"], orgA)
    const mine = await openSse(api, "/runs/subscribe", orgA)
    await mine.live()
    expect(await ok(del(api, `/run?runId=${old}`, orgA))).toEqual({ success: true })
    // A later run of the caller's, so a missing frame shows at once instead of as a timeout.
    const marker = (await trigger(api, { jobName: "greet", input: { name: "m" }, labels: { org: "a" } }, orgA)).runId
    const events = eventsOf(
      await mine.until(
        (frame) => frame.kind === "event" && frame.event.runId === marker && frame.event.type === "run:trigger",
        "the marker run's trigger"
      )
    )
    expect(events.map((event) => [event.type, event.runId])).toContainEqual(["run:delete", old])
    await waitForStatus(api, marker, ["completed"], orgA)
  })

  describe.each([
    ["no authenticate", undefined],
    ["authenticate answering undefined", () => undefined]
  ] as const)("with %s, every other hook still runs, with ctx undefined", (_, authenticate) => {
    it("refuses what the hooks refuse to an anonymous caller", async () => {
      const calls: Array<Call> = []
      let seeding = true
      const publicOnly = (labels: Readonly<Record<string, string>> | undefined) => labels?.["org"] === "public"
      const api = await open({
        ...(authenticate === undefined ? {} : { authenticate }),
        onTrigger: (ctx, body) => {
          calls.push({ hook: "onTrigger", ctx, jobName: body.jobName })
          return seeding || publicOnly(body.labels) ? undefined : { reject: "anonymous" }
        },
        onRunAccess: (ctx, run, operation) => {
          calls.push({ hook: "onRunAccess", ctx, runId: run.id, operation })
          return seeding || publicOnly(run.labels) ? undefined : { reject: "anonymous" }
        },
        scopeRuns: (ctx, filter) => {
          calls.push({ hook: "scopeRuns", ctx, filter })
          return seeding ? filter : { ...filter, labels: { org: "public" } }
        }
      })
      const privateRun = (await trigger(api, { jobName: "greet", input: { name: "p" }, labels: { org: "a" } })).runId
      await waitForStatus(api, privateRun, ["completed"])
      const held = (await trigger(api, { jobName: "gated", input: { gate: "g" }, labels: { org: "a" } })).runId
      await waitForStatus(api, held, ["leased"])
      const before = await snapshot(api)
      seeding = false
      calls.length = 0

      await failsWith(post(api, "/trigger", { jobName: "greet", input: { name: "x" }, labels: { org: "a" } }), 403)
      await failsWith(get(api, `/run?runId=${privateRun}`), 403)
      await failsWith(get(api, `/steps?runId=${privateRun}`), 403)
      await failsWith(get(api, `/subscribe?runId=${held}`), 403)
      await failsWith(post(api, `/cancel?runId=${held}`), 403)
      await failsWith(post(api, `/retrigger?runId=${privateRun}`), 403)
      await failsWith(del(api, `/run?runId=${privateRun}`), 403)
      expect(await runIds(api)).toEqual([])
      seeding = true
      expect(await snapshot(api)).toEqual(before)
      seeding = false

      // One run at a time: let the held run finish so the public one can run.
      api.gates.open("g")
      const publicRun = (await trigger(api, { jobName: "greet", input: { name: "o" }, labels: { org: "public" } })).runId
      await waitForStatus(api, publicRun, ["completed"])
      expect(await runIds(api)).toEqual([publicRun])

      expect(calls.length).toBeGreaterThan(0)
      for (const call of calls) expect(call.ctx).toBeUndefined()
      expect(calls.filter((call) => call.hook === "onRunAccess").map((call) => call.operation).slice(0, 6)).toEqual([
        "read",
        "steps",
        "subscribe",
        "cancel",
        "retrigger",
        "delete"
      ])
    })
  })
})
