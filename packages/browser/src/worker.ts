/**
 * The database worker of `@durably/browser`: start it as a dedicated module
 * worker (`DurablyBrowser.layer` does, unless given `worker`). It holds the
 * SQLite database on OPFS and answers the page's store calls.
 *
 * @since 0.1.0
 */
/// <reference lib="webworker" />
import { serveOn } from "./internal/workerMain.js"

declare const self: DedicatedWorkerGlobalScope

serveOn(self)
