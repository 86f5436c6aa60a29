// The handlers of `DurablyApi`'s `runs` group: each authenticates, asks the
// auth hooks, then calls the engine.
import { Durably } from "@durably/core/Durably"
import type { RunFilter } from "@durably/core/Store"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import type { HttpServerRequest } from "@effect/platform"
import { Deferred, Effect, Stream } from "effect"
import { Api, BadRequest } from "../DurablyApi.js"
import { answer } from "./errors.js"
import type { Options, RunOperation } from "./options.js"
import { asArray, isJson, labelsOf, maxInputDepth, tooDeep } from "./request.js"
import { sseBody } from "./sse.js"

const eventStreamResponse = (body: Stream.Stream<Uint8Array, unknown>) =>
  HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
  })

export const handlers = <Ctx>(options?: Options<Ctx>) =>
  HttpApiBuilder.group(Api, "runs", (routes) =>
    Effect.gen(function* () {
      const durably = yield* Durably
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
            const { jobName, labels } = yield* scoped(request, {
              jobName: asArray(urlParams.jobName),
              labels: yield* labelsOf(request)
            })
            return sseResponse(sseBody(durably.subscribeRuns({ jobName, labels }), sse))
          })
        )
    })
  )
