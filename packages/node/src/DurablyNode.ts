/**
 * One layer gives a Node program `Durably` and its `Worker` on SQLite or
 * PostgreSQL, with the store migrated and the event bus in place.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Durably, EventBus } from "@durably/core"
import type { StoreError, ValidationError } from "@durably/core/DurablyError"
import type * as Job from "@durably/core/Job"
import type { Store } from "@durably/core/Store"
import type { Worker } from "@durably/core/Worker"
import type { ConfigError } from "effect/ConfigError"
import { Layer } from "effect"
import type { PgOptions, SqliteOptions } from "./NodeStore.js"
import * as NodeStore from "./NodeStore.js"

/** @since 0.1.0 @category models */
export type Services = Durably.Durably | Worker | Store | EventBus.EventBus | SqlClient.SqlClient

/** @since 0.1.0 @category models */
export type LayerError = ValidationError | StoreError | SqlError | ConfigError

const engineOn = <J extends Job.Any, E>(
  options: Durably.Options<J>,
  storage: Layer.Layer<Store | SqlClient.SqlClient, E>
): Layer.Layer<Services, E | ValidationError, Job.Requirements<J>> =>
  Durably.layer(options).pipe(Layer.provideMerge(Layer.merge(storage, EventBus.layer)))

/**
 * Durably on a SQLite file (WAL, `synchronous=NORMAL` unless set).
 *
 * @example
 * const DurablyLive = DurablyNode.sqlite({ filename: "jobs.db", jobs: [syncUsers] })
 *
 * @since 0.1.0
 * @category layers
 */
export const sqlite = <J extends Job.Any>(
  options: SqliteOptions & Durably.Options<J>
): Layer.Layer<Services, LayerError, Job.Requirements<J>> => engineOn(options, NodeStore.sqlite(options))

/**
 * Durably on PostgreSQL; any number of processes may share one database.
 *
 * @since 0.1.0
 * @category layers
 */
export const pg = <J extends Job.Any>(
  options: PgOptions & Durably.Options<J>
): Layer.Layer<Services, LayerError, Job.Requirements<J>> => engineOn(options, NodeStore.pg(options))
