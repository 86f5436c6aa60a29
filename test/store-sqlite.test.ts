import { NodeStore } from "@durably/node"
import { storeSuite } from "./conformance/storeSuite.js"
import { freshFile } from "./support/sqlite.js"

storeSuite(
  "SQLite file",
  freshFile((filename) => NodeStore.sqlite({ filename }))
)
