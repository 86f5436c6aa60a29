/**
 * Serving the Durably HTTP API: the handlers of `DurablyApi`, server-sent
 * events, auth hooks, and the same app as a Web-standard handler.
 *
 * @since 0.1.0
 */
import { Durably } from "@durably/core/Durably"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { terminalEventTypes } from "@durably/core/DurablyEvent"
import { EventBus } from "@durably/core/EventBus"
import type { Labels, Run } from "@durably/core/Run"
import type { RunFilter } from "@durably/core/Store"
import {
  HttpApiBuilder,
  HttpApiError,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import type { HttpApi, HttpApp } from "@effect/platform"
import type { Context } from "effect"
import { Deferred, Effect, Layer, Option, Stream } from "effect"
import type { TriggerBody } from "./DurablyApi.js"
import { Api, BadRequest, Conflict, Forbidden, InternalError, NotFound, Unauthorized } from "./DurablyApi.js"

type ApiError = BadRequest | Unauthorized | Forbidden | NotFound | Conflict | InternalError
import { answer, internalError } from "./internal/errors.js"
import { sseBody } from "./internal/sse.js"

/**
 * What a run-level request does, for `onRunAccess`.
 *
 * @since 0.1.0
 * @category models
 */
export type RunOperation = "read" | "steps" | "subscribe" | "cancel" | "retry" | "retrigger" | "delete"

/** @since 0.1.0 @category models */
export type AuthError = Unauthorized | Forbidden

/**
 * Auth hooks. Each runs before anything is read or written for the request;
 * a failure answers 401 / 403 and touches nothing. When `authenticate` is
 * absent or yields `undefined`, the other hooks still run, with an anonymous
 * (`undefined`) context: leaving out authentication bypasses no check.
 *
 * @since 0.1.0
 * @category models
 */
export interface Auth<Ctx> {
  readonly authenticate?: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<Ctx | undefined, AuthError>
  readonly onTrigger?: (ctx: Ctx | undefined, body: TriggerBody) => Effect.Effect<void, AuthError>
  readonly onRunAccess?: (
    ctx: Ctx | undefined,
    run: Run,
    info: { readonly operation: RunOperation }
  ) => Effect.Effect<void, AuthError>
  /** Narrows the filter of `GET /runs` and `GET /runs/subscribe` (e.g. to the caller's tenant). */
  readonly scopeRuns?: (ctx: Ctx | undefined, filter: RunFilter) => Effect.Effect<RunFilter, AuthError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Ctx> {
  readonly auth?: Auth<Ctx> | undefined
  /** A keep-alive comment is sent this often on SSE streams (default 15000). */
  readonly keepAliveMs?: number | undefined
  /** `run:progress` frames of one run are sent at most this often, latest wins (default 100; 0 sends all). */
  readonly progressThrottleMs?: number | undefined
}

const maxLabels = 50

/** `label.KEY=VALUE` query parameters. */
const labelsOf = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Labels | undefined, BadRequest> =>
  Effect.suspend(() => {
    const labels: Record<string, string> = Object.create(null)
    let count = 0
    for (const [key, value] of new URL(request.url, "http://localhost").searchParams) {
      if (!key.startsWith("label.")) continue
      const name = key.slice("label.".length)
      if (name.length === 0 || name.length > 200 || value.length > 1000) {
        return Effect.fail(new BadRequest({ error: `bad label filter: ${key.slice(0, 210)}` }))
      }
      if (name in labels) return Effect.fail(new BadRequest({ error: `label filter given twice: ${key}` }))
      labels[name] = value
      if (++count > maxLabels) return Effect.fail(new BadRequest({ error: `at most ${maxLabels} label filters` }))
    }
    return Effect.succeed(count === 0 ? undefined : labels)
  })

const isJson = (request: HttpServerRequest.HttpServerRequest) =>
  (request.headers["content-type"] ?? "").toLowerCase().split(";")[0]?.trim() === "application/json"

const maxInputDepth = 64

/** True when `value` nests objects/arrays deeper than `limit` (checked without recursion). */
const tooDeep = (value: unknown, limit: number): boolean => {
  const stack: Array<{ readonly value: unknown; readonly depth: number }> = [{ value, depth: 0 }]
  while (stack.length > 0) {
    const next = stack.pop()
    if (next === undefined || typeof next.value !== "object" || next.value === null) continue
    if (next.depth >= limit) return true
    for (const child of Object.values(next.value)) stack.push({ value: child, depth: next.depth + 1 })
  }
  return false
}

const runLevelEvents: ReadonlySet<DurablyEvent["type"]> = new Set([
  "run:trigger",
  "run:coalesced",
  "run:leased",
  "run:progress",
  "run:complete",
  "run:fail",
  "run:cancel",
  "run:retry",
  "run:delete"
])

const matchesLabels = (labels: Labels, wanted: Labels | undefined) =>
  wanted === undefined || Object.entries(wanted).every(([key, value]) => labels[key] === value)

const asArray = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value as A]

const jsonResponse = (body: unknown, status: number) => HttpServerResponse.unsafeJson(body, { status })

/** A body the platform could not read (bad JSON, a broken multipart form) surfaces as a defect. */
const isBadBody = (defect: unknown) =>
  (defect instanceof HttpServerError.RequestError && defect.reason === "Decode") ||
  (typeof defect === "object" && defect !== null && "_tag" in defect && defect._tag === "MultipartError")

const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text)

const notJson = jsonResponse({ error: "the request body could not be read as JSON" }, 400)

const isApiError = (error: unknown): error is ApiError =>
  error instanceof BadRequest ||
  error instanceof Unauthorized ||
  error instanceof Forbidden ||
  error instanceof NotFound ||
  error instanceof Conflict ||
  error instanceof InternalError

const eventStreamResponse = (body: Stream.Stream<Uint8Array, unknown>) =>
  HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
  })

/**
 * The handlers of `DurablyApi`.
 *
 * @since 0.1.0
 * @category layers
 */
export const handlers = <Ctx>(options?: Options<Ctx>) =>
  HttpApiBuilder.group(Api, "runs", (routes) =>
    Effect.gen(function* () {
      const durably = yield* Durably
      const bus = yield* EventBus
      const auth = options?.auth
      // Open SSE streams end when the API is shut down, so a server can close
      // (it waits for its connections) while clients are still subscribed.
      const closing = yield* Effect.acquireRelease(Deferred.make<void>(), (deferred) => Deferred.succeed(deferred, undefined))
      const sseResponse = (body: Stream.Stream<Uint8Array, unknown>) =>
        eventStreamResponse(Stream.interruptWhen(body, Deferred.await(closing)))
      const sse = {
        keepAliveMs: options?.keepAliveMs ?? 15_000,
        progressThrottleMs: options?.progressThrottleMs ?? 100
      }

      const authenticate = (request: HttpServerRequest.HttpServerRequest) =>
        auth?.authenticate === undefined ? Effect.succeed(undefined) : auth.authenticate(request)

      /** The run, after the caller is authenticated and allowed `operation` on it. */
      const accessRun = (request: HttpServerRequest.HttpServerRequest, runId: string, operation: RunOperation) =>
        Effect.gen(function* () {
          const ctx = yield* authenticate(request)
          const run = yield* answer(durably.getRun(runId))
          if (auth?.onRunAccess !== undefined) yield* auth.onRunAccess(ctx, run, { operation })
          return run
        })

      /** The caller's filter, narrowed by `scopeRuns`. */
      const scoped = (request: HttpServerRequest.HttpServerRequest, filter: RunFilter) =>
        Effect.gen(function* () {
          const ctx = yield* authenticate(request)
          return auth?.scopeRuns === undefined ? filter : yield* auth.scopeRuns(ctx, filter)
        })

      /** Labels of runs seen on the bus, so label filters need no read per event. */
      const labelsOfRun = (cache: Map<string, Labels>, event: DurablyEvent) => {
        if (event.runId === undefined) return Effect.succeed(Option.none<Labels>())
        if ("labels" in event) {
          cache.set(event.runId, event.labels)
          return Effect.succeed(Option.some(event.labels))
        }
        const known = cache.get(event.runId)
        if (known !== undefined) return Effect.succeed(Option.some(known))
        const runId = event.runId
        return durably.getRun(runId).pipe(
          Effect.map((run) => {
            cache.set(runId, run.labels)
            return Option.some(run.labels)
          }),
          Effect.orElseSucceed(() => Option.none<Labels>())
        )
      }

      return routes
        .handle("trigger", ({ payload, request }) =>
          Effect.gen(function* () {
            // Only JSON: a form post from another site must not start jobs.
            if (!isJson(request)) {
              return yield* new BadRequest({ error: "the request body must be JSON (content-type: application/json)" })
            }
            if (tooDeep(payload.input, maxInputDepth)) {
              return yield* new BadRequest({ error: `input is nested deeper than ${maxInputDepth} levels` })
            }
            const ctx = yield* authenticate(request)
            if (auth?.onTrigger !== undefined) yield* auth.onTrigger(ctx, payload)
            const { disposition, run } = yield* answer(
              durably.triggerByName(payload.jobName, payload.input, {
                idempotencyKey: payload.idempotencyKey,
                concurrencyKey: payload.concurrencyKey,
                coalesce: payload.coalesce,
                labels: payload.labels
              })
            )
            return { runId: run.id, disposition }
          })
        )
        .handle("runs", ({ request, urlParams }) =>
          Effect.gen(function* () {
            const filter = yield* scoped(request, {
              jobName: asArray(urlParams.jobName),
              status: asArray(urlParams.status),
              labels: yield* labelsOf(request),
              limit: urlParams.limit,
              offset: urlParams.offset
            })
            return yield* answer(durably.getRuns(filter))
          })
        )
        .handle("run", ({ request, urlParams }) => accessRun(request, urlParams.runId, "read"))
        .handle("steps", ({ request, urlParams }) =>
          Effect.flatMap(accessRun(request, urlParams.runId, "steps"), (run) => answer(durably.getSteps(run.id)))
        )
        .handle("cancel", ({ request, urlParams }) =>
          Effect.flatMap(accessRun(request, urlParams.runId, "cancel"), (run) =>
            Effect.as(answer(durably.cancel(run.id)), { success: true as const })
          )
        )
        .handle("retry", ({ request, urlParams }) =>
          Effect.flatMap(accessRun(request, urlParams.runId, "retry"), (run) =>
            Effect.as(answer(durably.retry(run.id)), { success: true as const })
          )
        )
        .handle("retrigger", ({ request, urlParams }) =>
          Effect.flatMap(accessRun(request, urlParams.runId, "retrigger"), (run) =>
            Effect.map(answer(durably.retrigger(run.id)), (triggered) => ({
              runId: triggered.run.id,
              disposition: triggered.disposition
            }))
          )
        )
        .handle("deleteRun", ({ request, urlParams }) =>
          Effect.flatMap(accessRun(request, urlParams.runId, "delete"), (run) =>
            Effect.as(answer(durably.deleteRun(run.id)), { success: true as const })
          )
        )
        .handle("subscribe", ({ request, urlParams }) =>
          Effect.map(accessRun(request, urlParams.runId, "subscribe"), (run) =>
            sseResponse(sseBody(durably.subscribe(run.id), sse))
          )
        )
        .handle("runsSubscribe", ({ request, urlParams }) =>
          Effect.gen(function* () {
            const filter = yield* scoped(request, {
              jobName: asArray(urlParams.jobName),
              labels: yield* labelsOf(request)
            })
            const jobNames = asArray(filter.jobName)
            const cache = new Map<string, Labels>()
            const events = bus.events.pipe(
              Stream.filter(
                (event) =>
                  runLevelEvents.has(event.type) && (jobNames === undefined || jobNames.includes(event.jobName ?? ""))
              ),
              Stream.filterEffect((event) =>
                filter.labels === undefined
                  ? Effect.succeed(true)
                  : Effect.map(labelsOfRun(cache, event), (labels) =>
                      Option.isSome(labels) && matchesLabels(labels.value, filter.labels)
                    )
              ),
              Stream.tap((event) =>
                Effect.sync(() => {
                  // A finished run's labels are read again if it is ever retried, so the cache stays small.
                  if (terminalEventTypes.includes(event.type) && event.runId !== undefined) cache.delete(event.runId)
                })
              )
            )
            return sseResponse(sseBody(events, sse))
          })
        )
    })
  )

/**
 * Answers what the API's own schemas cannot: a malformed body or query (400
 * with `issues`), an unknown route (404) and any defect (500, no internals).
 */
const errorShapes = HttpApiBuilder.middleware(Api, (app) =>
  // Bodies are JSON only: anything else is refused before the platform parses it
  // (a form post from another site must not start jobs; multipart parsing is not for us).
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    request.headers["content-type"] !== undefined && !isJson(request)
      ? Effect.succeed(jsonResponse({ error: "the request body must be JSON (content-type: application/json)" }, 400))
      : answerFailures(app)
  )
)

/** Failures the API's types do not list still reach here at run time. */
const answerFailures = (app: HttpApp.Default) =>
  (app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>).pipe(
    Effect.catchAll((error) => {
      if (isApiError(error)) return Effect.fail(error)
      if (error instanceof HttpApiError.HttpApiDecodeError) {
        // Messages can quote the offending value: keep them short (a body may be megabytes).
        const issues = error.issues.map(({ message, path }) => ({ path, message: clip(message) }))
        const detail = issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
        return Effect.succeed(jsonResponse({ error: `invalid request: ${detail.join("; ")}`, issues }, 400))
      }
      if (error instanceof HttpServerError.RequestError) return Effect.succeed(notJson)
      if (error instanceof HttpServerError.RouteNotFound) {
        const path = new URL(error.request.url, "http://localhost").pathname
        return Effect.succeed(jsonResponse({ error: `no route ${error.request.method} ${path}` }, 404))
      }
      return Effect.as(Effect.logError("durably http: unexpected failure", error), jsonResponse({ error: internalError.error }, 500))
    }),
    Effect.catchAllDefect((defect) =>
      // A body that is not JSON surfaces as a defect of the payload decoder.
      isBadBody(defect)
        ? Effect.succeed(notJson)
        : Effect.as(Effect.logError("durably http: unexpected defect", defect), jsonResponse({ error: internalError.error }, 500))
    )
  )

/**
 * The API with its handlers, error shapes and `/openapi.json`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Ctx>(options?: Options<Ctx>): Layer.Layer<HttpApi.Api, never, Durably | EventBus> =>
  Layer.mergeAll(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }), errorShapes).pipe(
    Layer.provideMerge(HttpApiBuilder.api(Api).pipe(Layer.provide(handlers(options))))
  )

/**
 * A Web-standard handler: `handle(request, basePath?)` answers any `Request`
 * whose path (after `basePath`) is one of the API's routes.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebHandler {
  readonly handle: (request: Request, basePath?: string) => Promise<Response>
  readonly dispose: () => Promise<void>
}

/** `request` with `basePath` taken off the front of its path. */
const underBasePath = (request: Request, basePath: string | undefined): Request | undefined => {
  if (basePath === undefined || basePath === "" || basePath === "/") return request
  const base = basePath.endsWith("/") ? basePath.slice(0, -1) : basePath
  const url = new URL(request.url)
  if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return undefined
  url.pathname = url.pathname.slice(base.length) || "/"
  return new Request(url, request)
}

/**
 * The API as a Web-standard handler over the given engine services.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toWebHandler = <Ctx>(
  context: Context.Context<Durably | EventBus>,
  options?: Options<Ctx>
): WebHandler => {
  const { dispose, handler } = HttpApiBuilder.toWebHandler(
    Layer.mergeAll(layer(options), HttpServer.layerContext).pipe(Layer.provide(Layer.succeedContext(context)))
  )
  return {
    handle: (request, basePath) => {
      const routed = underBasePath(request, basePath)
      return routed === undefined
        ? Promise.resolve(Response.json({ error: "not under the handler's base path" }, { status: 404 }))
        : handler(routed)
    },
    dispose
  }
}
