// Reading a request beyond what the API's schemas check: label filters,
// the content type, how deeply a trigger's input nests.
import type { Labels } from "@durably/core/Run"
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { BadRequest } from "../DurablyApi.js"

const maxLabels = 50

/** `label.KEY=VALUE` query parameters. */
export const labelsOf = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Labels | undefined, BadRequest> =>
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

export const isJson = (request: HttpServerRequest.HttpServerRequest) =>
  (request.headers["content-type"] ?? "").toLowerCase().split(";")[0]?.trim() === "application/json"

export const maxInputDepth = 64

/** True when `value` nests objects/arrays deeper than `limit` (checked without recursion). */
export const tooDeep = (value: unknown, limit: number): boolean => {
  const stack: Array<{ readonly value: unknown; readonly depth: number }> = [{ value, depth: 0 }]
  while (stack.length > 0) {
    const next = stack.pop()
    if (next === undefined || typeof next.value !== "object" || next.value === null) continue
    if (next.depth >= limit) return true
    for (const child of Object.values(next.value)) stack.push({ value: child, depth: next.depth + 1 })
  }
  return false
}

export const asArray = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value as A]

export const jsonResponse = (body: unknown, status: number) => HttpServerResponse.unsafeJson(body, { status })
