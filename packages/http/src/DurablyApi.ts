/**
 * The HTTP API of Durably, described once with `HttpApi`: the routes, their
 * query strings and bodies, their answers and their errors. The same
 * description serves requests (`DurablyHttp`) and `/openapi.json`.
 *
 * @since 0.1.0
 */
import { Run, RunStatus, StepRecord } from "@durably/core/Run"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** @since 0.1.0 @category errors */
export const Issue = Schema.Struct({
  path: Schema.Array(Schema.Union(Schema.String, Schema.Number)),
  message: Schema.String
})

/**
 * 400: malformed JSON, a body or query that does not match, an unknown job, or
 * job input failing the job's schema (then `issues` names each bad field).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { error: Schema.String, issues: Schema.optional(Schema.Array(Issue)) },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 401: `authenticate` rejected the request. @since 0.1.0 @category errors */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** 403: an auth hook refused the operation. @since 0.1.0 @category errors */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

/** 404: no such run. @since 0.1.0 @category errors */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** 409: the run's status does not allow the change. @since 0.1.0 @category errors */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** 500: anything unexpected; says nothing of the internals. @since 0.1.0 @category errors */
export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  { error: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}

const strict = { parseOptions: { onExcessProperty: "error" } } as const

/** Labels as the API accepts them: at most 50, keys of 1–200 characters, values up to 1000. */
export const Labels = Schema.Record({
  key: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  value: Schema.String.pipe(Schema.maxLength(1000))
}).pipe(Schema.filter((labels) => Object.keys(labels).length <= 50 || "at most 50 labels"))

/** A bounded id: run ids are ULIDs, but any short string is looked up (and is simply not found). */
const RunId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))

/** `?runId=` @since 0.1.0 @category schemas */
export const RunIdParams = Schema.Struct({ runId: RunId })

/**
 * `POST /trigger` body.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TriggerBody = Schema.Struct({
  jobName: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  input: Schema.Unknown,
  idempotencyKey: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  concurrencyKey: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  coalesce: Schema.optional(Schema.Literal("skip")),
  labels: Schema.optional(Labels)
}).annotations(strict)
/** @since 0.1.0 @category schemas */
export interface TriggerBody extends Schema.Schema.Type<typeof TriggerBody> {}

/** `{ runId, disposition }` @since 0.1.0 @category schemas */
export const Triggered = Schema.Struct({
  runId: Schema.String,
  disposition: Schema.Literal("created", "idempotent", "coalesced")
})

/** `{ success: true }` @since 0.1.0 @category schemas */
export const Success = Schema.Struct({ success: Schema.Literal(true) })

const OneOrMany = <A extends Schema.Schema.AnyNoContext>(item: A) => Schema.Union(item, Schema.Array(item))
const Count = (max: number) =>
  Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, max))

/**
 * `GET /runs` query. Labels are given as `label.KEY=VALUE` (read apart from
 * this schema, since their keys are open).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunsParams = Schema.Struct({
  jobName: Schema.optional(OneOrMany(Schema.String.pipe(Schema.maxLength(200)))),
  status: Schema.optional(OneOrMany(RunStatus)),
  limit: Schema.optional(Count(1000)),
  offset: Schema.optional(Count(Number.MAX_SAFE_INTEGER))
})

/** `GET /runs/subscribe` query (plus `label.KEY=VALUE`). @since 0.1.0 @category schemas */
export const RunsSubscribeParams = Schema.Struct({
  jobName: Schema.optional(OneOrMany(Schema.String.pipe(Schema.maxLength(200))))
})

/**
 * @since 0.1.0
 * @category api
 */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(HttpApiEndpoint.post("trigger", "/trigger").setPayload(TriggerBody).addSuccess(Triggered))
  .add(HttpApiEndpoint.get("runs", "/runs").setUrlParams(RunsParams).addSuccess(Schema.Array(Run)))
  .add(HttpApiEndpoint.get("run", "/run").setUrlParams(RunIdParams).addSuccess(Run))
  .add(HttpApiEndpoint.get("steps", "/steps").setUrlParams(RunIdParams).addSuccess(Schema.Array(StepRecord)))
  .add(HttpApiEndpoint.post("cancel", "/cancel").setUrlParams(RunIdParams).addSuccess(Success))
  .add(HttpApiEndpoint.post("retry", "/retry").setUrlParams(RunIdParams).addSuccess(Success))
  .add(HttpApiEndpoint.post("retrigger", "/retrigger").setUrlParams(RunIdParams).addSuccess(Triggered))
  .add(HttpApiEndpoint.del("deleteRun", "/run").setUrlParams(RunIdParams).addSuccess(Success))
  // Server-sent events (`text/event-stream`): `data: <event JSON>\n\n` frames.
  .add(HttpApiEndpoint.get("subscribe", "/subscribe").setUrlParams(RunIdParams))
  .add(HttpApiEndpoint.get("runsSubscribe", "/runs/subscribe").setUrlParams(RunsSubscribeParams)) {}

/**
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("durably")
  .add(RunsGroup)
  .addError(BadRequest)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(NotFound)
  .addError(Conflict)
  .addError(InternalError) {}
