// Answers what the API's own schemas cannot: a malformed body or query (400
// with `issues`), an unknown route (404) and any defect (500, no internals).
import { HttpApiBuilder, HttpApiError, HttpServerError, HttpServerRequest } from "@effect/platform"
import type { HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { Api, BadRequest, Conflict, Forbidden, InternalError, NotFound, Unauthorized } from "../DurablyApi.js"
import { internalError } from "./errors.js"
import { isJson, jsonResponse } from "./request.js"

type ApiError = BadRequest | Unauthorized | Forbidden | NotFound | Conflict | InternalError

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

export const errorShapes = HttpApiBuilder.middleware(Api, (app) =>
  // Bodies are JSON only: anything else is refused before the platform parses it
  // (a form post from another site must not start jobs; multipart parsing is not for us).
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    request.headers["content-type"] !== undefined && !isJson(request)
      ? Effect.succeed(jsonResponse({ error: "the request body must be JSON (content-type: application/json)" }, 400))
      : answerFailures(app)
  )
)
