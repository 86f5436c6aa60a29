// A fresh SQLite file per test, in a temporary folder removed afterwards.
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "durably-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A layer built on a new database file path. */
export const freshFile = <A, E, R>(build: (filename: string) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => build(join(dir, "durably.db"))))
