// The options of `DurablyHttp.layer` / `toWebHandler`, here so the route
// handlers can use them without importing the public module that re-exports them.
import type { Run } from "@durably/core/Run"
import type { RunFilter } from "@durably/core/Store"
import type { HttpServerRequest } from "@effect/platform"
import type { Effect } from "effect"
import type { Forbidden, TriggerBody, Unauthorized } from "../DurablyApi.js"

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
