// Workloads shared by both drivers (ours and upstream), so each side runs the
// same code around its own `make(spec)`. Plain JS: it is also copied next to
// upstream's node_modules.
import { performance } from "node:perf_hooks"

const chunks = (n, size) => {
  const out = []
  for (let start = 0; start < n; start += size) out.push(Array.from({ length: Math.min(size, n - start) }, (_, j) => start + j))
  return out
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

const rssMb = () => process.memoryUsage().rss / 1024 / 1024

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallMs = () => performance.timeOrigin + performance.now()

async function* lines(stream) {
  let buffered = ""
  for await (const chunk of stream) {
    buffered += chunk.toString()
    let newline
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
    }
  }
}

/**
 * With `spec.warmup`, the workload runs once untimed first (`warmup` triggers,
 * or a drain of `warmup` runs), on an instance of its own on another SQLite
 * file, and is then measured as usual on a fresh instance: the same process
 * with its code warm, and a database as fresh as without.
 */
const warmUp = async (spec, make) => {
  if (spec.backend.kind !== "sqlite") throw new Error("warmup runs on SQLite only")
  const { warmup, ...rest } = spec
  await runWorkload({ ...rest, n: warmup, backend: { ...spec.backend, filename: `${spec.backend.filename}.warmup` } }, make)
}

export const runWorkload = async (spec, make) => {
  if (spec.warmup) await warmUp(spec, make)
  switch (spec.workload) {
    case "trigger-seq": {
      const d = await make(spec)
      const t0 = performance.now()
      for (let i = 0; i < spec.n; i++) await d.trigger({ i, k: 1 })
      const ms = performance.now() - t0
      await d.close()
      return { ms, perSec: (spec.n / ms) * 1000 }
    }
    case "trigger-batch": {
      const d = await make(spec)
      const t0 = performance.now()
      await d.batchTrigger(Array.from({ length: spec.n }, (_, i) => ({ i, k: 1 })))
      const ms = performance.now() - t0
      await d.close()
      return { ms, perSec: (spec.n / ms) * 1000 }
    }
    case "e2e": {
      const d = await make({ ...spec, maxConcurrentRuns: spec.concurrency })
      for (const ids of chunks(spec.n, 500)) await d.batchTrigger(ids.map((i) => ({ i, k: spec.k })))
      let completed = 0
      let resolveDone
      const done = new Promise((resolve) => (resolveDone = resolve))
      d.onComplete(() => {
        if (++completed === spec.n) resolveDone()
      })
      const t0 = performance.now()
      await d.start()
      await done
      const ms = performance.now() - t0
      const verified = await d.countCompleted()
      await d.close()
      if (verified !== spec.n) throw new Error(`expected ${spec.n} completed runs, found ${verified}`)
      return { ms, runsPerSec: (spec.n / ms) * 1000, stepsPerSec: ((spec.n * spec.k) / ms) * 1000 }
    }
    case "wakeup": {
      const firstStep = new Map()
      const d = await make({ ...spec, onFirstStep: (i) => firstStep.get(i)?.(performance.now()) })
      let onDone
      d.onComplete(() => onDone?.())
      await d.start()
      // Let the worker go idle first, so each trigger has to wake it.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const latencies = []
      for (let i = 0; i < spec.n; i++) {
        const started = new Promise((resolve) => firstStep.set(i, resolve))
        const finished = new Promise((resolve) => (onDone = resolve))
        const t0 = performance.now()
        await d.trigger({ i, k: 1 })
        latencies.push((await started) - t0)
        await finished
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      await d.close()
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
    }
    case "rss-pending": {
      const d = await make(spec)
      for (const ids of chunks(spec.n, 1000)) await d.batchTrigger(ids.map((i) => ({ i, k: 1 })))
      globalThis.gc?.()
      const rss = rssMb()
      await d.close()
      return { rssMb: rss }
    }
    case "rss-running": {
      let release
      const gate = new Promise((resolve) => (release = resolve))
      let entered = 0
      let allIn
      const allEntered = new Promise((resolve) => (allIn = resolve))
      const d = await make({
        ...spec,
        maxConcurrentRuns: spec.n,
        onFirstStep: () => {
          if (++entered === spec.n) allIn()
          return gate
        }
      })
      await d.batchTrigger(Array.from({ length: spec.n }, (_, i) => ({ i, k: 1 })))
      let completed = 0
      let resolveDone
      const done = new Promise((resolve) => (resolveDone = resolve))
      d.onComplete(() => {
        if (++completed === spec.n) resolveDone()
      })
      await d.start()
      await allEntered
      globalThis.gc?.()
      const rss = rssMb()
      release()
      await done
      await d.close()
      return { rssMb: rss }
    }
    case "prequeue": {
      const d = await make(spec)
      for (const ids of chunks(spec.n, 500)) await d.batchTrigger(ids.map((i) => ({ i, k: spec.k })))
      await d.close()
      return { queued: spec.n }
    }
    case "drain": {
      // One of several worker processes: ready, then wait for "go" on stdin,
      // then work until every queued run is completed (by any process).
      const d = await make({ ...spec, maxConcurrentRuns: spec.concurrency })
      process.stdout.write("ready\n")
      await new Promise((resolve) => process.stdin.once("data", resolve))
      const t0 = performance.now()
      await d.start()
      // One row per check (the n-th completed run), so polling costs next to nothing on either side.
      while (!(await d.hasCompleted(spec.n))) await new Promise((resolve) => setTimeout(resolve, 100))
      const ms = performance.now() - t0
      await d.close()
      return { ms }
    }
    case "wake-worker": {
      // Across processes: this process only executes; it reports each run's first step.
      const d = await make({ ...spec, onFirstStep: (i) => process.stdout.write(`step ${i} ${wallMs()}\n`) })
      await d.start()
      process.stdout.write("ready\n")
      await new Promise((resolve) => process.stdin.once("data", resolve))
      await d.close()
      return { ok: true }
    }
    case "wake-trigger": {
      // Across processes: this process only triggers, one run per "go <i>" line.
      const d = await make(spec)
      process.stdout.write("ready\n")
      for await (const line of lines(process.stdin)) {
        const [command, i] = line.split(" ")
        if (command !== "go") break
        const t0 = wallMs()
        await d.trigger({ i: Number(i), k: 1 })
        process.stdout.write(`trig ${i} ${t0}\n`)
      }
      await d.close()
      return { ok: true }
    }
    default:
      throw new Error(`unknown workload ${spec.workload}`)
  }
}

/** A driver run as a child process: argv[2] is the JSON spec; prints one JSON result line and exits. */
export const runFromArgv = async (make) => {
  if (process.argv[2] === undefined) return
  const result = await runWorkload(JSON.parse(process.argv[2]), make)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}
