// The two bench pages, built by Vite and served by `vite preview`: ours from
// the workspace sources, upstream from its own install in .bench/upstream-browser.
import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { build, preview } from "vite"

const here = fileURLToPath(new URL(".", import.meta.url))

export type Impl = "ours" | "upstream"

export interface Served {
  readonly url: string
  readonly close: () => Promise<void>
}

/**
 * Installs upstream's browser stack into .bench/upstream-browser (once) and
 * copies its page and the shared workloads next to it, so the page resolves
 * its packages from there. No install scripts: the page needs nothing built,
 * and better-sqlite3 (an upstream dependency) is for Node only.
 */
const installUpstream = (root: string, log: (line: string) => void) => {
  const dir = join(root, ".bench/upstream-browser")
  mkdirSync(join(dir, "page"), { recursive: true })
  copyFileSync(join(here, "../upstream-browser.package.json"), join(dir, "package.json"))
  if (!existsSync(join(dir, "node_modules/@coji/durably")) || !existsSync(join(dir, "node_modules/sqlocal"))) {
    log("installing upstream @coji/durably 0.15.0 with SQLocal into .bench/upstream-browser ...")
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--legacy-peer-deps", "--ignore-scripts", "--loglevel=error"],
      { cwd: dir, stdio: "inherit" }
    )
  }
  copyFileSync(join(here, "workloads.ts"), join(dir, "workloads.ts"))
  for (const file of ["index.html", "main.js"]) copyFileSync(join(here, "upstream", file), join(dir, "page", file))
  return join(dir, "page")
}

/**
 * SQLocal's VFS shares memory with its worker, which needs cross-origin
 * isolation; both pages get it, so they run under the same conditions.
 */
const isolation = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }

const buildPage = async (root: string, source: string, outDir: string) => {
  await build({
    root: source,
    configFile: false,
    logLevel: "warn",
    cacheDir: join(root, ".bench/browser/.vite"),
    // SQLite's wasm files are emitted next to their loaders; the workers are modules, as both packages' loaders expect.
    worker: { format: "es" },
    build: {
      outDir,
      emptyOutDir: true,
      target: "es2022",
      reportCompressedSize: false,
      rollupOptions: {
        // zod 4 carries comments Rollup cannot place and says so for each; they change nothing in the bundle.
        onwarn: (warning, warn) => {
          if (warning.code !== "INVALID_ANNOTATION") warn(warning)
        }
      }
    }
  })
}

const serve = async (outDir: string): Promise<Served> => {
  const server = await preview({
    root: dirname(outDir),
    configFile: false,
    logLevel: "warn",
    build: { outDir: basename(outDir) },
    preview: { host: "127.0.0.1", port: 0, strictPort: false, headers: isolation }
  })
  const url = server.resolvedUrls?.local[0]
  if (url === undefined) throw new Error(`vite preview of ${outDir} has no local URL`)
  return { url, close: () => server.close() }
}

/** Builds both pages (each time: ours follows its sources) and serves each on a port of its own. */
export const servePages = async (root: string, log: (line: string) => void): Promise<Record<Impl, Served>> => {
  const upstreamSource = installUpstream(root, log)
  const out = { ours: join(root, ".bench/browser/ours"), upstream: join(root, ".bench/browser/upstream") }
  await buildPage(root, join(here, "ours"), out.ours)
  await buildPage(root, upstreamSource, out.upstream)
  const ours = await serve(out.ours)
  const upstream = await serve(out.upstream).catch(async (error: unknown) => {
    await ours.close()
    throw error
  })
  return { ours, upstream }
}
