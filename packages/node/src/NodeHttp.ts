/**
 * The Durably HTTP API on a Node HTTP server (`@effect/platform-node`).
 *
 * @since 0.1.0
 */
import type { Durably } from "@durably/core/Durably"
import type { EventBus } from "@durably/core/EventBus"
import { DurablyHttp } from "@durably/http"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { createServer } from "node:http"

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions<Ctx> extends DurablyHttp.Options<Ctx> {
  /** Default 3000; 0 picks a free port (read it from `HttpServer.HttpServer`'s `address`). */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
}

/**
 * Serves the API (and `/openapi.json`) until the layer's scope closes.
 *
 * @example
 * const Server = NodeHttp.server({ port: 3000 }).pipe(Layer.provide(DurablyNode.sqlite({ filename, jobs })))
 * Layer.launch(Server).pipe(NodeRuntime.runMain)
 *
 * @since 0.1.0
 * @category layers
 */
export const server = <Ctx>(
  options?: ServerOptions<Ctx>
): Layer.Layer<HttpServer.HttpServer, ServeError, Durably | EventBus> =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(DurablyHttp.layer(options)),
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, { port: options?.port ?? 3000, host: options?.host ?? "127.0.0.1" })
    )
  )
