/**
 * `createDurablyHandler`: the HTTP API of `@durably/http` as a Web-standard
 * handler for any framework, with auth hooks written as plain (async) functions.
 */
import type { Run } from "@durably/core/Run"
import type { RunFilter } from "@durably/core/Store"
import type { DurablyApi } from "@durably/http"
import { DurablyHttp } from "@durably/http"
import { Forbidden, Unauthorized } from "@durably/http/DurablyApi"
import type { HttpServerRequest } from "@effect/platform"
import { Effect } from "effect"
import type { WithEngine } from "./internal/engineContext.js"
import { engineContext } from "./internal/engineContext.js"

export type { RunOperation } from "@durably/http/DurablyHttp"

/** Hooks run before anything is read or written; throwing (an Error, or a `Response`) answers 401/403. */
export interface AuthConfig<Ctx> {
  /** Who is calling. When absent (or returning nothing) the other hooks still run, with `undefined`. */
  readonly authenticate?: (request: Request) => Ctx | undefined | Promise<Ctx | undefined>
  readonly onTrigger?: (ctx: Ctx | undefined, body: DurablyApi.TriggerBody) => void | Promise<void>
  readonly onRunAccess?: (
    ctx: Ctx | undefined,
    run: Run,
    info: { readonly operation: DurablyHttp.RunOperation }
  ) => void | Promise<void>
  /** Narrows `GET /runs` and `GET /runs/subscribe`, e.g. to the caller's tenant. */
  readonly scopeRuns?: (ctx: Ctx | undefined, filter: RunFilter) => RunFilter | Promise<RunFilter>
}

export interface DurablyHandlerOptions<Ctx> {
  readonly auth?: AuthConfig<Ctx> | undefined
  /** SSE keep-alive comment interval (default 15000 ms). */
  readonly keepAliveMs?: number | undefined
  /** Per-run `run:progress` SSE throttle, latest wins (default 100 ms; 0 sends all). */
  readonly progressThrottleMs?: number | undefined
}

export interface DurablyHandler {
  /** Answers `request`; `basePath` (e.g. `/api/durably`) is taken off its path first. */
  handle(request: Request, basePath?: string): Promise<Response>
  /** Ends open SSE streams and frees the handler (the Durably instance stays open). */
  dispose(): Promise<void>
}

/** A hook's failure as 401 (authenticate, or a thrown 401 `Response`) or 403. */
const rejection = (thrown: unknown, fallback: 401 | 403): Unauthorized | Forbidden => {
  if (thrown instanceof Response) {
    const error = thrown.statusText.length > 0 ? thrown.statusText : thrown.status === 401 ? "unauthorized" : "forbidden"
    return thrown.status === 401 ? new Unauthorized({ error }) : new Forbidden({ error })
  }
  const error = thrown instanceof Error && thrown.message.length > 0 ? thrown.message : fallback === 401 ? "unauthorized" : "forbidden"
  return fallback === 401 ? new Unauthorized({ error }) : new Forbidden({ error })
}

const hook = <A>(call: () => A | Promise<A>, fallback: 401 | 403) =>
  Effect.tryPromise({ try: async () => call(), catch: (thrown) => rejection(thrown, fallback) })

/** The Web `Request` behind a server request (the handler is fed Web requests). */
const webRequest = (request: HttpServerRequest.HttpServerRequest): Request =>
  request.source instanceof Request ? request.source : new Request(new URL(request.url, "http://localhost"))

const toEffectAuth = <Ctx>(auth: AuthConfig<Ctx>): DurablyHttp.Auth<Ctx> => {
  const { authenticate, onRunAccess, onTrigger, scopeRuns } = auth
  return {
    ...(authenticate === undefined ? {} : { authenticate: (request) => hook(() => authenticate(webRequest(request)), 401) }),
    ...(onTrigger === undefined ? {} : { onTrigger: (ctx, body) => hook(() => onTrigger(ctx, body), 403) }),
    ...(onRunAccess === undefined ? {} : { onRunAccess: (ctx, run, info) => hook(() => onRunAccess(ctx, run, info), 403) }),
    ...(scopeRuns === undefined ? {} : { scopeRuns: (ctx, filter) => hook(() => scopeRuns(ctx, filter), 403) })
  }
}

/**
 * The HTTP API for a Durably instance, as `handle(request, basePath?)`.
 *
 * @example
 * const handler = createDurablyHandler(durably)
 * app.all("/api/durably/*", (req) => handler.handle(req, "/api/durably"))
 */
export const createDurablyHandler = <Ctx = undefined>(
  durably: object,
  options?: DurablyHandlerOptions<Ctx>
): DurablyHandler => {
  const instance = durably as Partial<WithEngine>
  const contextOf = instance[engineContext]
  if (contextOf === undefined) throw new TypeError("createDurablyHandler needs an instance made by createDurably")
  let handler: Promise<DurablyHttp.WebHandler> | undefined
  const effectOptions: DurablyHttp.Options<Ctx> = {
    auth: options?.auth === undefined ? undefined : toEffectAuth(options.auth),
    keepAliveMs: options?.keepAliveMs,
    progressThrottleMs: options?.progressThrottleMs
  }
  return {
    handle: async (request, basePath) => {
      handler ??= contextOf().then((context) => DurablyHttp.toWebHandler(context, effectOptions))
      try {
        return (await handler).handle(request, basePath)
      } catch {
        // The database could not be opened; try again on the next request.
        handler = undefined
        return Response.json({ error: "service unavailable" }, { status: 503 })
      }
    },
    dispose: async () => {
      const current = handler
      handler = undefined
      if (current !== undefined) await current.then((opened) => opened.dispose(), () => undefined)
    }
  }
}
