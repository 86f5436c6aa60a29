// The packages as a user gets them: `pnpm build`, `pnpm pack` of core, http,
// node and durably, the tarballs installed with npm into a project outside the
// workspace (better-sqlite3 builds from source there), and then:
// - every published `exports` target exists and nothing says `workspace:` or `catalog:`;
// - README's Promise example runs under plain `node` and prints what it should;
// - the published types: under NodeNext `database: "jobs.db"` checks, under "bundler" it does not;
// - the installed `durably` bundles for the browser with nothing of Node in it;
// - `npm install --omit=optional` of durably installs neither @durably/node nor better-sqlite3.
import { spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleForBrowser } from "./browserBundle.js"

const root = fileURLToPath(new URL("../../", import.meta.url))
const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url))

/** README's Promise example as it stands (its first code block under the heading), inside the fixture's frame. */
const readmeExample = (): string => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Using it from Promises"))
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error("README.md has no code block under \"Using it from Promises\"")
  return readFileSync(join(fixtures, "readme-promise.mjs"), "utf8").replace("// README\n", block)
}
const packages = { "@durably/core": "core", "@durably/http": "http", "@durably/node": "node", durably: "durably" } as const
type PackageName = keyof typeof packages

interface Ran {
  readonly code: number | null
  readonly output: string
}

/** Runs a command to its end (or `timeoutMs`), with its stdout and stderr together. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs: number): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const env = { ...process.env }
    // What `pnpm test` sets for its own script is not meant for the commands run here.
    for (const key of Object.keys(env)) if (/^npm_(package|lifecycle)_/.test(key)) delete env[key]
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

const succeeded = (ran: Ran, what: string) => {
  if (ran.code !== 0) throw new Error(`${what} exited with ${ran.code}:\n${ran.output.slice(-4000)}`)
  return ran.output
}

const pnpm = (args: ReadonlyArray<string>, cwd: string) => run("npx", ["-y", "pnpm@10", ...args], cwd, 180_000)

const dirs: Array<string> = []
const scratch = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `durably-${name}-`))
  dirs.push(dir)
  return dir
}

/** The string values in an `exports` map (through its conditions). */
const targets = (exports: unknown): Array<string> =>
  typeof exports === "string"
    ? [exports]
    : typeof exports === "object" && exports !== null
      ? Object.values(exports).flatMap(targets)
      : []

const tarballs = new Map<PackageName, string>()
const zodVersion = (JSON.parse(readFileSync(join(root, "node_modules/zod/package.json"), "utf8")) as { version: string }).version

/** A project outside the workspace whose dependencies are the tarballs (`names`), every @durably one pinned to its tarball. */
const project = (names: ReadonlyArray<PackageName>): string => {
  const dir = scratch("project")
  const spec = (name: PackageName) => `file:${tarballs.get(name)}`
  const all = Object.keys(packages) as Array<PackageName>
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({
      name: "durably-pack-check",
      private: true,
      type: "module",
      dependencies: { ...Object.fromEntries(names.map((name) => [name, spec(name)])), zod: zodVersion },
      overrides: Object.fromEntries(all.map((name) => [name, spec(name)]))
    })
  )
  return dir
}

const npmInstall = (dir: string, extra: ReadonlyArray<string> = []) =>
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...extra], dir, 300_000).then((ran) =>
    succeeded(ran, `npm install ${extra.join(" ")}`)
  )

beforeAll(async () => {
  succeeded(await pnpm(["build"], root), "pnpm build")
  const out = scratch("tarballs")
  for (const [name, dir] of Object.entries(packages) as Array<[PackageName, string]>) {
    const before = new Set(readdirSync(out))
    succeeded(await pnpm(["pack", "--pack-destination", out], join(root, "packages", dir)), `pnpm pack ${name}`)
    const made = readdirSync(out).filter((file) => !before.has(file) && file.endsWith(".tgz"))
    expect(made).toHaveLength(1)
    tarballs.set(name, join(out, made[0]!))
  }
}, 300_000)

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe("the packed packages, installed with npm outside the workspace", () => {
  it("publish dist with types, run README's Promise example under plain node, and bundle for the browser", async () => {
    const dir = project(["durably", "@durably/core", "@durably/http", "@durably/node"])
    await npmInstall(dir)

    for (const name of Object.keys(packages)) {
      const home = join(dir, "node_modules", name)
      const text = readFileSync(join(home, "package.json"), "utf8")
      expect(text).not.toMatch(/workspace:|catalog:/)
      const manifest = JSON.parse(text) as { exports: Record<string, unknown>; publishConfig?: unknown }
      const paths = targets(manifest.exports)
      expect(paths.length).toBeGreaterThan(0)
      for (const path of paths) {
        expect(path, `${name}: ${path}`).toMatch(/^\.\/dist\/.*\.(js|d\.ts)$/)
        expect(existsSync(join(home, path)), `${name}: ${path}`).toBe(true)
      }
      // Every public subpath answers `types` first.
      for (const [subpath, target] of Object.entries(manifest.exports)) {
        if (target === null) continue
        expect(Object.keys(target as object)[0], `${name} ${subpath}`).toMatch(/^(types|browser)$/)
      }
      expect(readdirSync(home)).toEqual(expect.arrayContaining(["dist", "package.json"]))
      expect(readdirSync(home)).not.toContain("src")
    }

    // README's example, under plain node (no tsx), with the database file in the project.
    writeFileSync(join(dir, "readme-promise.mjs"), readmeExample())
    const output = succeeded(await run(process.execPath, ["readme-promise.mjs"], dir, 60_000), "node readme-promise.mjs")
    const lines = output.trim().split("\n")
    expect(JSON.parse(lines.at(-1)!)).toEqual({
      first: { status: "completed", output: { syncedCount: 2 } },
      output: { syncedCount: 2 },
      errors: "function"
    })
    // The `run:complete` listener saw at least the second run (the first may finish before it is added).
    expect(lines.slice(0, -1).length).toBeGreaterThanOrEqual(1)
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^[0-9A-Z]{26} \{ syncedCount: 2 \}$/)
    expect(existsSync(join(dir, "jobs.db"))).toBe(true)

    // The published types, as a NodeNext project and as a bundler project sees them.
    copyFileSync(join(fixtures, "types-check.ts"), join(dir, "types-check.ts"))
    const tsc = join(root, "node_modules/typescript/bin/tsc")
    const check = (resolution: "NodeNext" | "Bundler") => {
      const config = `tsconfig.${resolution}.json`
      writeFileSync(
        join(dir, config),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            target: "ES2023",
            lib: ["ES2023", "DOM"],
            types: [],
            module: resolution === "NodeNext" ? "NodeNext" : "ESNext",
            moduleResolution: resolution
          },
          files: ["types-check.ts"]
        })
      )
      return run(process.execPath, [tsc, "-p", config], dir, 120_000)
    }
    succeeded(await check("NodeNext"), "tsc (NodeNext)")
    const bundler = await check("Bundler")
    expect(bundler.code).not.toBe(0)
    expect(bundler.output).toMatch(/types-check\.ts\(14,.*error TS2322/)
    expect(bundler.output.match(/error TS/g)).toHaveLength(1)

    const bundle = await bundleForBrowser(dir)
    expect(bundle.nodeOnly).toEqual([])
    expect(bundle.inputs).toContain("node_modules/durably/dist/index.js")
  }, 360_000)

  it("install with --omit=optional: no @durably/node, no better-sqlite3, and durably still bundles for the browser", async () => {
    const dir = project(["durably", "@durably/core", "@durably/http"])
    await npmInstall(dir, ["--omit=optional"])
    const installed = readdirSync(join(dir, "node_modules"))
    expect(installed).toContain("durably")
    expect(installed).not.toContain("better-sqlite3")
    expect(installed).not.toContain("pg")
    expect(readdirSync(join(dir, "node_modules/@durably"))).toEqual(["core", "http"])
    const bundle = await bundleForBrowser(dir)
    expect(bundle.nodeOnly).toEqual([])
  }, 360_000)
})
