/**
 * Serving the Durably HTTP API: the handlers of `DurablyApi`, server-sent
 * events, auth hooks, and the same app as a Web-standard handler.
 *
 * @since 0.1.0
 */
import type { Durably } from "@durably/core/Durably"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import type { HttpApi } from "@effect/platform"
import type { Context } from "effect"
import { Layer } from "effect"
import { Api } from "./DurablyApi.js"
import { errorShapes } from "./internal/errorShapes.js"
import type { Options } from "./internal/options.js"
import { handlers as routeHandlers } from "./internal/routes.js"

export type { Auth, AuthError, Options, RunOperation } from "./internal/options.js"

/**
 * The handlers of `DurablyApi`.
 *
 * @since 0.1.0
 * @category layers
 */
export const handlers = routeHandlers

/**
 * The API with its handlers, error shapes and `/openapi.json`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Ctx>(options?: Options<Ctx>): Layer.Layer<HttpApi.Api, never, Durably> =>
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
  context: Context.Context<Durably>,
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
