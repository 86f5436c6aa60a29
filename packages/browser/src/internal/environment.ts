// What the page must offer before a database worker is worth starting.
import { Effect } from "effect"
import { BrowserStorageError } from "../BrowserStorageError.js"

/** Fails with what is missing: a secure context, OPFS, Web Locks, workers, BroadcastChannel. */
export const check = Effect.gen(function* () {
  if (globalThis.isSecureContext !== true) {
    return yield* new BrowserStorageError({
      reason: "insecure-context",
      detail:
        "Durably in the browser needs a secure context: serve the page over https, or from localhost / 127.0.0.1 while developing"
    })
  }
  const missing = [
    typeof navigator.storage?.getDirectory !== "function" && "navigator.storage.getDirectory (OPFS)",
    typeof navigator.locks?.request !== "function" && "navigator.locks (Web Locks)",
    typeof Worker !== "function" && "Worker",
    typeof BroadcastChannel !== "function" && "BroadcastChannel"
  ].filter((name): name is string => typeof name === "string")
  if (missing.length > 0) {
    return yield* new BrowserStorageError({
      reason: "no-opfs",
      detail: `this browser lacks ${missing.join(", ")}: use a current Chromium, Firefox or Safari`
    })
  }
  yield* Effect.tryPromise({
    try: () => navigator.storage.getDirectory(),
    catch: (cause) =>
      new BrowserStorageError({
        reason: "no-opfs",
        detail: `the Origin Private File System is refused here (${String(cause)}); a private window or a file:// page may not have one`
      })
  })
})
