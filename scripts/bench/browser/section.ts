// The `browser` section of `pnpm bench`: ours (@durably/browser, SQLite WASM
// on OPFS in a dedicated worker) and upstream (@coji/durably 0.15.0 on
// SQLocal, SQLite's official WASM build on its "opfs" VFS, as upstream's docs
// set it up) in the same headless Chromium, each measurement in a fresh
// browser profile. Each side keeps the SQLite settings its package opens with
// (both journal_mode DELETE, synchronous FULL), so a commit costs each what
// it costs its users.
import { measureInBrowser } from "./chromium.js"
import type { Impl } from "./pages.js"
import { servePages } from "./pages.js"
import type { BrowserSpec } from "./workloads.js"
import type { Raw, Row } from "../rows.js"

/**
 * 50 ms for both: an idle worker looks for runs this often, and neither side
 * waits for a poll between runs while there is work, so it only bounds the
 * pickup of the first run (at most 50 ms of a run of seconds).
 */
const pollingIntervalMs = 50
/** A hung page (a worker that never answers) fails its measurement instead of the whole bench. */
const measurementTimeoutMs = 300_000

const median = (values: ReadonlyArray<number>) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

interface Workload {
  readonly label: string
  readonly spec: BrowserSpec
  readonly metrics: ReadonlyArray<{ readonly key: string; readonly label: string; readonly workload?: string }>
}

const workloads: ReadonlyArray<Workload> = [
  ...[1, 4].map((concurrency) => ({
    label: `e2e 200 runs × 10 steps, ${concurrency} at once (batchTrigger → all completed)`,
    spec: { workload: "e2e", n: 200, k: 10, concurrency, pollingIntervalMs } as const,
    metrics: [{ key: "ms", label: "ms" }]
  })),
  {
    label: "trigger ×500 sequential",
    spec: { workload: "trigger-seq", n: 500, k: 1, concurrency: 1, pollingIntervalMs },
    metrics: [
      { key: "msPerTrigger", label: "ms per trigger" },
      // Timed in the same measurement: a fresh instance on an empty OPFS, up to migrated.
      { key: "openMs", label: "ms", workload: "open + migrate (empty OPFS)" }
    ]
  }
]

/**
 * Measures each workload `reps` times per side (alternating), each in a fresh
 * browser, and appends its rows and raw results to the bench's; a failed
 * measurement is reported and left out.
 */
export const browserSection = async (options: {
  readonly root: string
  readonly reps: number
  readonly log: (line: string) => void
  readonly rows: { readonly push: (...rows: Array<Row>) => unknown }
  readonly raw: { readonly push: (...raw: Array<Raw>) => unknown }
}): Promise<void> => {
  const { log, reps, rows, raw } = options
  log(`browser: headless Chromium, pollingIntervalMs ${pollingIntervalMs}, preserveSteps false, both pages cross-origin isolated`)
  const pages = await servePages(options.root, log)
  try {
    for (const workload of workloads) {
      const results: Record<Impl, Array<Record<string, number>>> = { ours: [], upstream: [] }
      for (let rep = 0; rep < reps; rep++) {
        for (const impl of ["ours", "upstream"] as const) {
          try {
            const result = await measureInBrowser(pages[impl].url, workload.spec, measurementTimeoutMs)
            if (result["isolated"] !== 1) throw new Error("the page was not cross-origin isolated")
            results[impl].push(result)
            raw.push({ section: "browser", workload: workload.label, impl, spec: workload.spec, result })
          } catch (error) {
            log(`  browser ${workload.label}: ${impl} failed: ${error instanceof Error ? error.message.slice(0, 3000) : String(error)}`)
            results[impl].push({})
          }
        }
      }
      for (const metric of workload.metrics) {
        const row: Row = {
          section: "browser",
          workload: metric.workload ?? workload.label,
          metric: metric.label,
          higherIsBetter: false,
          ours: results.ours.map((r) => r[metric.key] ?? Number.NaN),
          upstream: results.upstream.map((r) => r[metric.key] ?? Number.NaN)
        }
        rows.push(row)
        log(`  browser ${row.workload}: ours ${median(row.ours).toFixed(2)} / upstream ${median(row.upstream).toFixed(2)} ${row.metric}`)
      }
    }
  } finally {
    await pages.ours.close()
    await pages.upstream.close()
  }
}
