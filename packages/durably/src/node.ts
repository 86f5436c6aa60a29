/**
 * Durably for plain TypeScript on Node: the default entry's API, with
 * `createDurably({ database })` also opening a SQLite file path, `":memory:"`
 * or a `postgres://` URL through `@durably/node`.
 *
 * `@durably/node` (and with it better-sqlite3's native build and pg) is an
 * optional dependency of `durably`: installed by default, so `npm i durably`
 * works on Node as is, and left out by `npm i durably --omit=optional`, so a
 * project that only bundles for the browser never builds better-sqlite3. Only
 * this entry, selected by the "node" export condition, imports it.
 */
import type { Durably, DurablyOptions, JobDefinitions } from "./createDurably.js"
import { makeDurably } from "./createDurably.js"
import { nodeDatabase } from "./internal/nodeDatabase.js"

export * from "./shared.js"

/**
 * Creates a Durably instance. Nothing is opened until the first call that needs
 * the database (usually `init()`).
 *
 * @example
 * const durably = createDurably({ database: "jobs.db", jobs: { syncUsers } })
 * await durably.init()
 * const run = await durably.jobs.syncUsers.trigger({ orgId: "o1" })
 */
export const createDurably = <Jobs extends JobDefinitions = Record<never, never>>(
  options: DurablyOptions<Jobs>
): Durably<Jobs> => makeDurably(options, nodeDatabase)
