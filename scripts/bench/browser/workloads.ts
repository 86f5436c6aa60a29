// The browser workloads, shared by both pages (ours, and upstream's copy next
// to its own node_modules), so each side runs the same code around its own
// `make`. Runs in the page: no Node APIs.

export interface BenchInput {
  readonly i: number
  readonly k: number
}

/** One Durably instance on the page's OPFS database, either side's. */
export interface BenchInstance {
  readonly trigger: (input: BenchInput) => Promise<unknown>
  readonly batchTrigger: (inputs: ReadonlyArray<BenchInput>) => Promise<unknown>
  readonly start: () => unknown
  readonly onComplete: (listener: () => void) => unknown
  readonly countCompleted: () => Promise<number>
  readonly close: () => Promise<void>
}

export interface MakeOptions {
  readonly maxConcurrentRuns: number
  readonly pollingIntervalMs: number
}

export interface BrowserSpec {
  readonly workload: "e2e" | "trigger-seq"
  readonly n: number
  readonly k: number
  readonly concurrency: number
  readonly pollingIntervalMs: number
}

/** The instance is open and migrated when `make` resolves. */
export type Make = (options: MakeOptions) => Promise<BenchInstance>

export const runBrowserWorkload = async (spec: BrowserSpec, make: Make): Promise<Record<string, number>> => {
  const isolated = globalThis.crossOriginIsolated ? 1 : 0
  const opening = performance.now()
  const d = await make({ maxConcurrentRuns: spec.concurrency, pollingIntervalMs: spec.pollingIntervalMs })
  const openMs = performance.now() - opening
  switch (spec.workload) {
    case "trigger-seq": {
      // No worker started: only the triggers' own writes are timed.
      const t0 = performance.now()
      for (let i = 0; i < spec.n; i++) await d.trigger({ i, k: 1 })
      const ms = performance.now() - t0
      await d.close()
      return { ms, msPerTrigger: ms / spec.n, perSec: (spec.n / ms) * 1000, openMs, isolated }
    }
    case "e2e": {
      let completed = 0
      let resolveDone = () => {}
      const done = new Promise<void>((resolve) => (resolveDone = resolve))
      d.onComplete(() => {
        if (++completed === spec.n) resolveDone()
      })
      // The worker runs and goes idle first: the time is from the trigger to the last completion.
      await d.start()
      await new Promise((resolve) => setTimeout(resolve, spec.pollingIntervalMs * 2))
      const t0 = performance.now()
      await d.batchTrigger(Array.from({ length: spec.n }, (_, i) => ({ i, k: spec.k })))
      await done
      const ms = performance.now() - t0
      const verified = await d.countCompleted()
      await d.close()
      if (verified !== spec.n) throw new Error(`expected ${spec.n} completed runs, found ${verified}`)
      return { ms, stepsPerSec: ((spec.n * spec.k) / ms) * 1000, openMs, isolated }
    }
  }
}

declare global {
  interface Window {
    bench?: (spec: BrowserSpec) => Promise<Record<string, number>>
    benchReady?: boolean
  }
}

/** What each page does: expose one workload run on `window` for the Node driver. */
export const expose = (make: Make) => {
  window.bench = (spec) => runBrowserWorkload(spec, make)
  window.benchReady = true
}
