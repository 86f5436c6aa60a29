/**
 * Pieces of `@durably/core` that its sibling `@durably/*` packages build on.
 * Not public API: anything here may change in any release, with no semver
 * promise. Applications use the other modules.
 *
 * @since 0.1.0
 */
export { PreparedSql } from "./internal/preparedSql.js"
export { SyncSqlite } from "./internal/syncSqlite.js"
export type { SyncConnection, SyncStatement } from "./internal/syncSqlite.js"
export { stopCancelledOf, unsafeEmitOf, unsafeTriggerOf } from "./internal/unsafe.js"
export type { UnsafeEmit, UnsafeTrigger } from "./internal/unsafe.js"
export * as SyncSqliteClient from "./internal/syncSqliteClient.js"
export { releaseAllOf } from "./internal/storeDoors.js"
export { isStorage, ofStore, StorageTypeId } from "./internal/storage.js"
export type { Storage } from "./internal/storage.js"
