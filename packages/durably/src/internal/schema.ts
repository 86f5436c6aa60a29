// A job's `input` / `output` may be an Effect Schema or any Standard Schema v1
// (zod, valibot, ...). The engine speaks Effect Schema, so a Standard Schema is
// wrapped as one whose decode and encode both run the Standard validator: the
// stored form is the validator's output, and it is validated again when read.
import type { StandardSchemaV1 } from "@standard-schema/spec"
import { Effect, ParseResult, Schema } from "effect"
import type { SchemaAST } from "effect"

/** What `defineJob` accepts as `input` or `output`. */
export type SchemaInput = Schema.Schema.AnyNoContext | StandardSchemaV1

/** The value a job sees after validation. */
export type Validated<S> = S extends Schema.Schema.AnyNoContext
  ? Schema.Schema.Type<S>
  : S extends StandardSchemaV1
    ? StandardSchemaV1.InferOutput<S>
    : never

/** The value a caller hands in (before validation). */
export type Accepted<S> = S extends Schema.Schema.AnyNoContext
  ? Schema.Schema.Type<S>
  : S extends StandardSchemaV1
    ? StandardSchemaV1.InferInput<S>
    : never

const isStandard = (schema: unknown): schema is StandardSchemaV1 =>
  (typeof schema === "object" || typeof schema === "function") && schema !== null && "~standard" in schema

const isEffectSchema = (schema: unknown): schema is Schema.Schema.AnyNoContext => Schema.isSchema(schema)

/** True when `schema` is something `defineJob` can use. */
export const isSchemaInput = (schema: unknown): schema is SchemaInput => isEffectSchema(schema) || isStandard(schema)

const pathKey = (segment: PropertyKey | StandardSchemaV1.PathSegment): PropertyKey =>
  typeof segment === "object" ? segment.key : segment

const toParseIssue = (
  ast: SchemaAST.AST,
  actual: unknown,
  issues: ReadonlyArray<StandardSchemaV1.Issue>
): ParseResult.ParseIssue => {
  const leaves = issues.map((issue): ParseResult.ParseIssue => {
    const leaf = new ParseResult.Type(ast, actual, issue.message)
    const [head, ...tail] = (issue.path ?? []).map(pathKey)
    return head === undefined ? leaf : new ParseResult.Pointer([head, ...tail], actual, leaf)
  })
  const [first, ...rest] = leaves
  if (first === undefined) return new ParseResult.Type(ast, actual, "invalid value")
  return rest.length === 0 ? first : new ParseResult.Composite(ast, actual, [first, ...rest])
}

const validateWith =
  (standard: StandardSchemaV1) =>
  (value: unknown, _options: SchemaAST.ParseOptions, ast: SchemaAST.AST): Effect.Effect<unknown, ParseResult.ParseIssue> => {
    // As `Either`s, so a synchronous validator leaves a synchronous parse (`encodeUnknownEither`) synchronous.
    const check = (result: StandardSchemaV1.Result<unknown>) =>
      result.issues === undefined ? ParseResult.succeed(result.value) : ParseResult.fail(toParseIssue(ast, value, result.issues))
    const result = standard["~standard"].validate(value)
    return result instanceof Promise ? Effect.flatMap(Effect.promise(() => result), check) : check(result)
  }

/** The Effect Schema the engine uses for `schema`. */
export const toEffectSchema = (schema: SchemaInput): Schema.Schema.AnyNoContext => {
  if (isEffectSchema(schema)) return schema
  const validate = validateWith(schema)
  return Schema.transformOrFail(Schema.Unknown, Schema.Unknown, { strict: true, decode: validate, encode: validate })
}
