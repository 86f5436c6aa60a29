// `pnpm bench`: this project and upstream @coji/durably 0.15.0, side by side on
// the same machine in one run. Each measurement runs in a fresh child process
// on a fresh database; the table shows medians, spread and ours / upstream.
//
//   pnpm bench            3 repetitions (7 for the sequential trigger)
//   pnpm bench --quick    1 repetition, smaller counts
//   pnpm bench --only=sqlite-normal|sqlite-full|pg|browser
import { execFileSync, spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { cpus, totalmem, tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { BuildOptions } from "esbuild"
import { admin, databaseUrl, probe } from "../postgres.js"
import { browserSection } from "./browser/section.js"
import type { Raw, Row } from "./rows.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const root = resolve(here, "../..")
const upstreamDir = join(root, ".bench/upstream")
const quick = process.argv.includes("--quick")
const reps = quick ? 1 : 3
// A sequential trigger takes about a second, and with SQLite FULL its time
// swings by a third from one process to the next with the disk's fsync time:
// more repetitions, so its median says more than three would.
const triggerReps = quick ? 1 : 7

type Backend =
  | { readonly kind: "sqlite"; readonly filename: string; readonly synchronous: "NORMAL" | "FULL" }
  | { readonly kind: "pg"; readonly url: string }
type Impl = "ours" | "upstream"
/** `floor`: the least a trigger must do, on the raw driver (`floorDriver.ts`). */
type Runner = Impl | "floor"
type Section = "sqlite-normal" | "sqlite-full" | "pg"
type Result = Record<string, number>

const log = (line: string) => process.stdout.write(`${line}\n`)

/** Installs upstream into .bench/upstream (once) and puts the shared driver files next to it. */
const installUpstream = () => {
  mkdirSync(upstreamDir, { recursive: true })
  copyFileSync(join(here, "upstream.package.json"), join(upstreamDir, "package.json"))
  if (!existsSync(join(upstreamDir, "node_modules/@coji/durably"))) {
    log("installing upstream @coji/durably 0.15.0 into .bench/upstream (builds better-sqlite3; about 90 s) ...")
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--legacy-peer-deps", "--loglevel=error"], {
      cwd: upstreamDir,
      stdio: "inherit"
    })
  }
  for (const file of ["upstreamDriver.mjs", "workloads.mjs", "ceiling.mjs"]) copyFileSync(join(here, file), join(upstreamDir, file))
}

/**
 * Ours runs bundled, as a deployed app would (upstream ships compiled JS too):
 * measuring through a TypeScript loader would charge us for the loader's memory
 * and start-up. The native drivers stay external.
 *
 * The bundle is split into chunks of at most about 500 KB, with parts of
 * effect as vendor entry points. V8 parses and compiles a module's top-level
 * code in one go: as one 1.9 MB module, ours took a 10 MB parse zone from the
 * main thread's malloc heap, and whether glibc could hand those pages back
 * afterwards depended on timing (about four processes in ten kept 8 MB more
 * for good). Upstream, loaded file by file from node_modules, never pays for
 * one big module. The driver imports zod as a namespace (`import * as z`),
 * which lets esbuild drop the zod code the workloads never touch, its 300 KB
 * of locales among it, as a production bundle of the app would.
 */
const bundleOurs = async () => {
  const oursDir = join(root, ".bench/ours")
  mkdirSync(join(oursDir, "node_modules"), { recursive: true })
  for (const file of readdirSync(oursDir)) if (file.endsWith(".mjs")) rmSync(join(oursDir, file))
  const { build } = await import("esbuild")
  // Both bundles: ESM for Node 20, the native drivers left external.
  // Comments and whitespace out, names kept, as a production build does. V8 keeps the
  // source of a loaded script, and one character above Latin-1 in a comment (zod has
  // one) makes it keep the whole bundle two bytes a character: 6.2 MB against 2.4 MB.
  const options: BuildOptions = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outExtension: { ".js": ".mjs" },
    minifyWhitespace: true,
    external: ["better-sqlite3", "pg", "pg-native"],
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: "warning"
  }
  await build({
    ...options,
    entryPoints: {
      driver: join(here, "oursDriver.ts"),
      "vendor-effect": "effect/Effect",
      "vendor-schema": "effect/Schema",
      "vendor-stream": "effect/Stream"
    },
    splitting: true,
    outdir: oursDir
  })
  // The bundle resolves the native drivers from here: link the workspace's own copies.
  const requireFrom = createRequire(join(root, "packages/node/package.json"))
  const sqliteDir = dirname(createRequire(requireFrom.resolve("@effect/sql-sqlite-node")).resolve("better-sqlite3/package.json"))
  const pgDir = dirname(createRequire(join(root, "package.json")).resolve("pg/package.json"))
  // The floor gets a bundle of its own, so it leaves the chunks of ours (whose memory is measured) as they are.
  const floorDir = join(root, ".bench/floor")
  rmSync(floorDir, { recursive: true, force: true })
  mkdirSync(join(floorDir, "node_modules"), { recursive: true })
  await build({ ...options, entryPoints: { floor: join(here, "floorDriver.ts") }, outdir: floorDir })
  for (const dir of [oursDir, floorDir]) {
    for (const [name, target] of [["better-sqlite3", sqliteDir], ["pg", pgDir]] as const) {
      const link = join(dir, "node_modules", name)
      rmSync(link, { force: true, recursive: true })
      symlinkSync(target, link, "dir")
    }
  }
}

let counter = 0
/** A fresh database for one measurement, and how to remove it. */
const freshBackend = async (template: Section): Promise<{ backend: Backend; cleanup: () => Promise<void> }> => {
  if (template === "pg") {
    const schema = `bench_${process.pid}_${counter++}`
    await admin(`CREATE SCHEMA ${schema}`)
    // Each measurement starts with the server's dirty pages flushed, so none
    // pays for the writes of the one before it (which alternates ours and upstream).
    await admin("CHECKPOINT")
    const url = new URL(databaseUrl)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return { backend: { kind: "pg", url: url.toString() }, cleanup: () => admin(`DROP SCHEMA ${schema} CASCADE`) }
  }
  const dir = mkdtempSync(join(tmpdir(), "durably-bench-"))
  return {
    backend: { kind: "sqlite", filename: join(dir, "bench.db"), synchronous: template === "sqlite-full" ? "FULL" : "NORMAL" },
    cleanup: async () => rmSync(dir, { recursive: true, force: true })
  }
}

const driverCommand = (impl: Runner, spec: object): [string, Array<string>, string] =>
  impl === "ours"
    ? [process.execPath, ["--expose-gc", join(root, ".bench/ours/driver.mjs"), JSON.stringify(spec)], root]
    : impl === "floor"
      ? [process.execPath, ["--expose-gc", join(root, ".bench/floor/floor.mjs"), JSON.stringify(spec)], root]
      : [process.execPath, ["--expose-gc", "driver.mjs", JSON.stringify(spec)], upstreamDir]

/**
 * Several worker processes drain one pre-filled queue: each says "ready" after
 * opening the database, all get "go" at once, and the time is the slowest's.
 */
const runDrainers = (impl: Impl, spec: object, processes: number): Promise<Result> =>
  new Promise((resolvePromise, reject) => {
    const children = Array.from({ length: processes }, () => {
      const [command, args, cwd] = driverCommand(impl, { ...spec, workload: "drain" })
      return spawn(command, args, { cwd, stdio: ["pipe", "pipe", "pipe"] })
    })
    let ready = 0
    const times: Array<number> = []
    for (const child of children) {
      let out = ""
      let err = ""
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
      child.stdout.on("data", (chunk: Buffer) => {
        const before = out
        out += chunk.toString()
        if (!before.includes("ready\n") && out.includes("ready\n") && ++ready === processes) {
          for (const each of children) each.stdin.write("go\n")
        }
      })
      child.on("exit", (code) => {
        if (code !== 0) return reject(new Error(`${impl} drainer exited ${code}: ${err.slice(-2000)}`))
        const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Result
        times.push(result["ms"] ?? Number.NaN)
        if (times.length === processes) resolvePromise({ ms: Math.max(...times) })
      })
    }
  })

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

/**
 * Wake-up across processes: one process only executes, another only triggers
 * (one run at a time, on the parent's word); latency is the trigger call's
 * start in one process to the first step's start in the other.
 */
const runWakeAcross = (impl: Impl, spec: object, n: number): Promise<Result> =>
  new Promise((resolvePromise, reject) => {
    const start = (workload: string) => {
      const [command, args, cwd] = driverCommand(impl, { ...spec, workload })
      if (impl === "upstream") copyFileSync(join(here, "upstreamDriver.mjs"), join(upstreamDir, "driver.mjs"))
      return spawn(command, args, { cwd, stdio: ["pipe", "pipe", "pipe"] })
    }
    // The trigger process starts once the worker has migrated the database
    // (upstream's migrations do not survive two processes creating tables at once).
    const worker = start("wake-worker")
    let trigger: ReturnType<typeof start> | undefined
    const triggered = new Map<number, number>()
    const stepped = new Map<number, number>()
    const latencies: Array<number> = []
    let ready = 0
    let next = 0
    let finished = false
    const fail = (error: Error) => {
      if (finished) return
      finished = true
      worker.kill()
      trigger?.kill()
      reject(error)
    }
    const sendNext = () => {
      if (next === n) {
        finished = true
        worker.stdin.write("stop\n")
        trigger?.stdin.write("stop\n")
        return resolvePromise({ p50: percentile(latencies, 50), p99: percentile(latencies, 99) })
      }
      // A short pause lets the previous run complete, so each trigger finds the worker idle.
      setTimeout(() => trigger?.stdin.write(`go ${next++}\n`), 20)
    }
    const settle = (i: number) => {
      const t0 = triggered.get(i)
      const t1 = stepped.get(i)
      if (t0 === undefined || t1 === undefined) return
      latencies.push(t1 - t0)
      sendNext()
    }
    const listen = (child: typeof worker, kind: "step" | "trig") => {
      let buffered = ""
      let err = ""
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
      child.on("exit", (code) => {
        if (code !== 0) fail(new Error(`${impl} wake-up ${kind} process exited ${code}: ${err.slice(-2000)}`))
      })
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString()
        let newline
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const [word, i, at] = buffered.slice(0, newline).split(" ")
          buffered = buffered.slice(newline + 1)
          if (word === "ready" && ++ready === 1) {
            trigger = start("wake-trigger")
            listen(trigger, "trig")
          }
          if (word === "ready" && ready === 2) setTimeout(sendNext, 200)
          if (word === kind) {
            const seen = kind === "step" ? stepped : triggered
            seen.set(Number(i), Number(at))
            settle(Number(i))
          }
        }
      })
    }
    listen(worker, "step")
  })

/** Runs one driver child with `spec`; resolves with the JSON it prints last. */
const runChild = (impl: Runner | "ceiling", spec: object): Promise<Result> =>
  new Promise((resolvePromise, reject) => {
    const [command, args, cwd] =
      impl === "ceiling" ? [process.execPath, ["ceiling.mjs", JSON.stringify(spec)], upstreamDir] : driverCommand(impl, spec)
    if (impl === "upstream") copyFileSync(join(here, "upstreamDriver.mjs"), join(upstreamDir, "driver.mjs"))
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
    child.on("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? ""
      if (code !== 0) return reject(new Error(`${impl} ${JSON.stringify(spec)} exited ${code}: ${err.slice(-2000)}`))
      try {
        resolvePromise(JSON.parse(last) as Result)
      } catch {
        reject(new Error(`${impl} printed no result: ${out.slice(-500)} ${err.slice(-1000)}`))
      }
    })
  })

/** The median of the measurements that succeeded (a failed one is NaN). */
const median = (values: ReadonlyArray<number>) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const rows: Array<Row> = []
const raw: Array<Raw> = []

/**
 * Measures one workload `repetitions` times for both implementations (alternating),
 * each on a fresh database; with `floor`, the floor runs in each repetition too.
 */
const measure = async (
  section: Section,
  workload: string,
  spec: Record<string, unknown>,
  metrics: ReadonlyArray<{ readonly key: string; readonly label: string; readonly higherIsBetter: boolean }>,
  withFloor = false,
  repetitions = reps
) => {
  const results: Record<Runner, Array<Result>> = { ours: [], upstream: [], floor: [] }
  const runners: ReadonlyArray<Runner> = withFloor ? ["ours", "upstream", "floor"] : ["ours", "upstream"]
  for (let rep = 0; rep < repetitions; rep++) {
    for (const impl of runners) {
      const { backend, cleanup } = await freshBackend(section)
      try {
        const full = { ...spec, backend }
        const processes = typeof spec["processes"] === "number" ? spec["processes"] : undefined
        let result: Result
        if (impl === "floor") {
          result = await runChild(impl, full)
        } else if (spec["workload"] === "wake-across") {
          result = await runWakeAcross(impl, full, Number(spec["n"]))
        } else if (processes === undefined) {
          result = await runChild(impl, full)
        } else {
          await runChild(impl, { ...full, workload: "prequeue" })
          const { ms } = await runDrainers(impl, full, processes)
          const total = Number(spec["n"]) * Number(spec["k"])
          result = { ms: ms ?? Number.NaN, stepsPerSec: (total / (ms ?? Number.NaN)) * 1000 }
        }
        results[impl].push(result)
        raw.push({ section, workload, impl, spec: full, result })
      } catch (error) {
        // One failed measurement is reported and left out; the run goes on.
        log(`  ${section} ${workload}: ${impl} failed: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`)
        results[impl].push({})
      } finally {
        await cleanup()
      }
    }
  }
  for (const metric of metrics) {
    rows.push({
      section,
      workload,
      metric: metric.label,
      higherIsBetter: metric.higherIsBetter,
      ours: results.ours.map((r) => r[metric.key] ?? Number.NaN),
      upstream: results.upstream.map((r) => r[metric.key] ?? Number.NaN),
      ...(withFloor ? { floor: results.floor.map((r) => r[metric.key] ?? Number.NaN) } : {})
    })
  }
  const last = rows.at(-1)
  if (last !== undefined) {
    const floor = last.floor === undefined ? "" : ` / floor ${median(last.floor).toFixed(1)}`
    log(`  ${section} ${workload}: ours ${median(last.ours).toFixed(1)} / upstream ${median(last.upstream).toFixed(1)}${floor} ${last.metric}`)
  }
}

const fmt = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1))
const spread = (all: ReadonlyArray<number>) => {
  const values = all.filter(Number.isFinite)
  return values.length > 1 ? ` (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : ""
}

const table = (ceilings: Record<string, number>) => {
  const lines = [
    "| backend | workload | metric | ours | upstream | ours / upstream | ours as % of ceiling |",
    "|---|---|---|---|---|---|---|"
  ]
  for (const row of rows) {
    const ours = median(row.ours)
    const upstream = median(row.upstream)
    const ratio = row.higherIsBetter ? ours / upstream : upstream / ours
    const ceiling = ceilings[row.section]
    const ofCeiling =
      ceiling !== undefined && row.metric.endsWith("/s") ? `${((ours / ceiling) * 100).toFixed(1)} %` : ""
    lines.push(
      `| ${row.section} | ${row.workload} | ${row.metric} | ${fmt(ours)}${spread(row.ours)} | ${fmt(upstream)}${spread(row.upstream)} | ${ratio.toFixed(2)}× ${row.higherIsBetter ? "" : "(inverse)"} | ${ofCeiling} |`
    )
  }
  return lines.join("\n")
}

/**
 * The floors next to both sides: `floor / upstream` is the best ratio any
 * trigger into this schema could have had in the same repetitions (per
 * repetition in brackets, since each floor ran right after that repetition's
 * upstream).
 */
const floorTable = () => {
  const lines = [
    "| backend | workload | metric | floor | upstream | floor / upstream (per repetition) | ours / upstream | ours as % of floor |",
    "|---|---|---|---|---|---|---|---|"
  ]
  for (const row of rows) {
    if (row.floor === undefined) continue
    const floor = median(row.floor)
    const ours = median(row.ours)
    const upstream = median(row.upstream)
    const perRep = row.floor.map((value, i) => (value / (row.upstream[i] ?? Number.NaN)).toFixed(2)).join(", ")
    lines.push(
      `| ${row.section} | ${row.workload} | ${row.metric} | ${fmt(floor)}${spread(row.floor)} | ${fmt(upstream)} | ${(floor / upstream).toFixed(2)}× (${perRep}) | ${(ours / upstream).toFixed(2)}× | ${((ours / floor) * 100).toFixed(0)} % |`
    )
  }
  return lines.length > 2 ? lines.join("\n") : ""
}

const main = async () => {
  installUpstream()
  await bundleOurs()
  const pgDown = await probe()
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`)
  log(`repetitions: ${reps} (sequential trigger: ${triggerReps}); pollingIntervalMs 10, default leases, preserveSteps false, SQLite in WAL mode`)
  if (pgDown !== undefined) log(`PostgreSQL sections skipped: ${databaseUrl} does not answer (${pgDown})`)

  const n = quick ? 300 : 1000
  const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length)
  const sections: ReadonlyArray<Section> = (
    ["sqlite-normal", "sqlite-full", ...(pgDown === undefined ? (["pg"] as const) : [])] as const
  ).filter((section) => only === undefined || section === only)

  // The physical ceiling: single-row insert transactions per second, raw driver.
  const ceilings: Record<string, number> = {}
  for (const section of sections) {
    const { backend, cleanup } = await freshBackend(section)
    try {
      const result = await runChild("ceiling", { backend, n: quick ? 2000 : 10000 })
      ceilings[section] = result["perSec"] ?? Number.NaN
      log(`  ${section} ceiling: ${fmt(ceilings[section] ?? 0)} single-row insert transactions/s (raw driver)`)
    } finally {
      await cleanup()
    }
  }

  for (const section of sections) {
    log(`${section}:`)
    await measure(section, "trigger ×2000 sequential", { workload: "trigger-seq", n: 2000 }, [
      { key: "perSec", label: "triggers/s", higherIsBetter: true }
    ], true, triggerReps)
    await measure(section, "batchTrigger of 2000", { workload: "trigger-batch", n: 2000 }, [
      { key: "ms", label: "ms", higherIsBetter: false }
    ])
    for (const k of [1, 10]) {
      for (const concurrency of [1, 4]) {
        await measure(section, `e2e ${n} runs × ${k} steps, ${concurrency} at once`, { workload: "e2e", n, k, concurrency }, [
          { key: "stepsPerSec", label: "steps/s", higherIsBetter: true }
        ])
      }
    }
    if (section !== "pg") {
      // Not targets: the same two workloads in a process that has already run them once,
      // untimed, on another database, to show how much of each side's time is its code warming up.
      await measure(section, "trigger ×2000 sequential, after 2000 untimed", { workload: "trigger-seq", n: 2000, warmup: 2000 }, [
        { key: "perSec", label: "triggers/s", higherIsBetter: true }
      ], false, triggerReps)
      await measure(section, `e2e ${n} runs × 10 steps, 1 at once, after an untimed drain of ${n}`, { workload: "e2e", n, k: 10, concurrency: 1, warmup: n }, [
        { key: "stepsPerSec", label: "steps/s", higherIsBetter: true }
      ])
    } else {
      for (const processes of [1, 4]) {
        await measure(section, `e2e ${n} runs × 10 steps, ${processes} worker process${processes > 1 ? "es" : ""}`, { workload: "drain", n, k: 10, concurrency: 1, processes }, [
          { key: "stepsPerSec", label: "steps/s", higherIsBetter: true }
        ])
      }
    }
    await measure(section, "wake-up (trigger → first step), 200 runs", { workload: "wakeup", n: quick ? 50 : 200 }, [
      { key: "p50", label: "p50 ms", higherIsBetter: false },
      { key: "p99", label: "p99 ms", higherIsBetter: false }
    ])
    if (section === "pg") {
      await measure(section, "wake-up across processes (trigger in one, worker in another)", { workload: "wake-across", n: quick ? 50 : 200 }, [
        { key: "p50", label: "p50 ms", higherIsBetter: false },
        { key: "p99", label: "p99 ms", higherIsBetter: false }
      ])
    }
    if (section !== "sqlite-full") {
      await measure(section, "RSS with 10,000 pending runs", { workload: "rss-pending", n: 10_000 }, [
        { key: "rssMb", label: "MB", higherIsBetter: false }
      ])
      await measure(section, "RSS while 100 runs execute", { workload: "rss-running", n: 100 }, [
        { key: "rssMb", label: "MB", higherIsBetter: false }
      ])
    }
  }

  if (only === undefined || only === "browser") await browserSection({ root, reps, log, rows, raw })

  const floors = floorTable()
  const markdown =
    floors === ""
      ? table(ceilings)
      : `${table(ceilings)}\n\nThe floor: the least a trigger must do, on the raw driver (validate the input with zod, make an id, one INSERT into this project's \`durably_runs\`; \`scripts/bench/floorDriver.ts\`), run in each repetition after upstream.\n\n${floors}`
  log("")
  log(markdown)
  mkdirSync(join(root, ".bench"), { recursive: true })
  writeFileSync(join(root, ".bench/results.json"), JSON.stringify({ date: new Date().toISOString(), reps, triggerReps, ceilings, rows, raw }, null, 2))
  writeFileSync(join(root, ".bench/results.md"), `${markdown}\n`)
  log("\nraw results: .bench/results.json; table: .bench/results.md")
}

await main()
