// A failure as the one-line text stored in a run's or step's `error` column.
import { ParseResult } from "effect"

export const describeFailure = (failure: unknown): string => {
  if (ParseResult.isParseError(failure)) return ParseResult.TreeFormatter.formatErrorSync(failure)
  if (failure instanceof Error) return failure.message.length > 0 ? failure.message : failure.name
  if (typeof failure === "string") return failure
  if (typeof failure === "object" && failure !== null) {
    const record = failure as { readonly _tag?: unknown; readonly message?: unknown }
    if (typeof record.message === "string") return record.message
    if (typeof record._tag === "string") return record._tag
  }
  try {
    return JSON.stringify(failure) ?? String(failure)
  } catch {
    return String(failure)
  }
}
