// Prints vitest's result as one closing line: "N passed, N failed, N skipped".
import { existsSync, readFileSync } from "node:fs"

const file = ".vitest.json"
if (!existsSync(file)) {
  console.log("0 passed, 1 failed")
  process.exit(1)
}
const result = JSON.parse(readFileSync(file, "utf8"))
console.log(`${result.numPassedTests} passed, ${result.numFailedTests} failed, ${result.numPendingTests} skipped`)
