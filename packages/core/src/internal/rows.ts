// The row form of each table and its decoding into the domain form. Rows come
// back from SQLite and PostgreSQL slightly differently (PG returns BIGINT as a
// string), so the row schemas accept both and yield one domain value.
import { Either, ParseResult, Schema } from "effect"
import { CorruptRowError } from "../DurablyError.js"
import * as Run from "../Run.js"

const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)
const Timestamp = Schema.compose(Millis, Schema.DateFromNumber)
const Int = Schema.Union(Schema.Number, Schema.NumberFromString)
const Json = Schema.parseJson()
const NullableJson = Schema.NullOr(Json)

const col = <S extends Schema.Schema.Any, K extends string>(schema: S, key: K) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

// A run's row is decoded on every claim, so its columns are checked under
// their own names and renamed by \`runOfRow\`: a key-renaming Schema
// transformation would check every field a second time, on the domain side.
const RunRow = Schema.Struct({
  id: Schema.String,
  job_name: Schema.String,
  status: Run.RunStatus,
  input: Json,
  output: NullableJson,
  error: Schema.NullOr(Schema.String),
  labels: Schema.parseJson(Run.Labels),
  progress: Schema.NullOr(Schema.parseJson(Run.Progress)),
  idempotency_key: Schema.NullOr(Schema.String),
  concurrency_key: Schema.NullOr(Schema.String),
  lease_owner: Schema.NullOr(Schema.String),
  lease_expires_at: Schema.NullOr(Timestamp),
  lease_generation: Int,
  attempt: Int,
  started_at: Schema.NullOr(Timestamp),
  completed_at: Schema.NullOr(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp
}).annotations({ identifier: "durably_runs row" })

const runOfRow = (row: typeof RunRow.Type): Run.Run => ({
  id: row.id,
  jobName: row.job_name,
  status: row.status,
  input: row.input,
  output: row.output,
  error: row.error,
  labels: row.labels,
  progress: row.progress,
  idempotencyKey: row.idempotency_key,
  concurrencyKey: row.concurrency_key,
  leaseOwner: row.lease_owner,
  leaseExpiresAt: row.lease_expires_at,
  leaseGeneration: row.lease_generation,
  attempt: row.attempt,
  startedAt: row.started_at,
  completedAt: row.completed_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

const StepFromRow = Schema.Struct({
  runId: col(Schema.String, "run_id"),
  name: Schema.String,
  index: Int,
  status: Run.StepStatus,
  output: NullableJson,
  error: Schema.NullOr(Schema.String),
  startedAt: col(Timestamp, "started_at"),
  completedAt: col(Timestamp, "completed_at")
})

const LogFromRow = Schema.Struct({
  runId: col(Schema.String, "run_id"),
  stepName: col(Schema.NullOr(Schema.String), "step_name"),
  level: Run.LogLevel,
  message: Schema.String,
  data: NullableJson,
  createdAt: col(Timestamp, "created_at")
})

/** The run id a row names in `column`, for error messages about rows that do not decode. */
const runIdIn =
  (column: string) =>
  (row: unknown): string =>
    typeof row === "object" && row !== null && column in row ? String((row as Record<string, unknown>)[column]) : "<unknown>"

/** A synchronous decoder; its `Either` result is also an `Effect`. */
const decoder = <A, I>(schema: Schema.Schema<A, I>, table: string, idOf: (row: unknown) => string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (row: unknown): Either.Either<A, CorruptRowError> =>
    Either.mapLeft(
      decode(row),
      (error) =>
        new CorruptRowError({ table, runId: idOf(row), detail: ParseResult.TreeFormatter.formatErrorSync(error) })
    )
}

const decodeRunRow = decoder(RunRow, "durably_runs", runIdIn("id"))

/** Decodes a `durably_runs` row; an undecodable row fails with a `CorruptRowError` naming the run. */
export const decodeRun = (row: unknown): Either.Either<Run.Run, CorruptRowError> => Either.map(decodeRunRow(row), runOfRow)
/** Decodes a `durably_steps` row. */
export const decodeStep = decoder(StepFromRow, "durably_steps", runIdIn("run_id"))
/** Decodes a `durably_logs` row. */
export const decodeLog = decoder(LogFromRow, "durably_logs", runIdIn("run_id"))

/** JSON text for a column, `null` stays SQL NULL. */
export const toJson = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

/** A labels column, or none when it cannot be read. */
export const decodeLabels = Schema.decodeUnknownOption(Schema.parseJson(Run.Labels))
