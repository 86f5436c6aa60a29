// The store's contract in a Chromium page, on SQLite in OPFS: the store the
// page sees is the one `@durably/browser` gives it (calls carried to the
// database worker, run there at the page's clock, so the TestClock drives
// lease expiry as on Node). Each test opens a database of its own. The tests
// that write rows through the caller's SqlClient are left out: the page has
// none, the database lives in the worker.
import { DurablyBrowser } from "@durably/browser"
import { Effect, Layer } from "effect"
import { storeSuite } from "../conformance/storeSuite.js"

let opened = 0
const fresh = Layer.unwrapEffect(
  Effect.sync(() =>
    DurablyBrowser.layer({ name: `conformance-${Date.now().toString(36)}-${opened++}`, jobs: [], autoStart: false })
  )
)

storeSuite("SQLite WASM on OPFS, from the page", fresh, { sql: false })
