// The two `exports` maps of each package agree: the workspace one (sources, so
// tests, tsx and the bench need no build) and the published one in
// `publishConfig` (dist, with types), same subpaths, same conditions, and only
// named public modules (no wildcard but the `./internal/*` block).
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))

interface Manifest {
  readonly name: string
  readonly files?: ReadonlyArray<string>
  readonly exports: Record<string, unknown>
  readonly publishConfig: { readonly exports: Record<string, unknown>; readonly main: string; readonly types: string }
}

const read = (dir: string) => JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) as Manifest

/** Condition path → target, e.g. `node` → `./src/node.ts`, `` → `./src/index.ts`. */
const flatten = (target: unknown, path = ""): Array<[string, string | null]> =>
  typeof target === "string" || target === null
    ? [[path, target]]
    : Object.entries(target as object).flatMap(([condition, inner]) => flatten(inner, path === "" ? condition : `${path}.${condition}`))

const published = (source: string) => source.replace(/^\.\/src\//, "./dist/").replace(/\.ts$/, ".js")

describe.each(["core", "http", "node", "durably", "browser"])("packages/%s/package.json", (dir) => {
  const manifest = read(dir)

  it("exports named modules only, each a source file with a dist twin in publishConfig (types first)", () => {
    expect(Object.keys(manifest.publishConfig.exports)).toEqual(Object.keys(manifest.exports))
    expect(manifest.exports["./internal/*"]).toBeNull()
    expect(manifest.publishConfig.exports["./internal/*"]).toBeNull()
    expect(manifest.files).toContain("dist")
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (subpath === "./internal/*") continue
      expect(subpath).not.toContain("*")
      const sources = flatten(target)
      const dists = new Map(flatten(manifest.publishConfig.exports[subpath]))
      for (const [condition, source] of sources) {
        expect(source, `${subpath} ${condition}`).toMatch(/^\.\/src\/[A-Za-z]+\.ts$/)
        expect(existsSync(join(root, "packages", dir, source!)), `${source}`).toBe(true)
        const prefix = condition === "" ? "" : `${condition}.`
        expect(dists.get(`${prefix}types`), `${subpath} ${prefix}types`).toBe(published(source!).replace(/\.js$/, ".d.ts"))
        expect(dists.get(`${prefix}import`), `${subpath} ${prefix}import`).toBe(published(source!))
        expect(dists.get(`${prefix}default`), `${subpath} ${prefix}default`).toBe(published(source!))
      }
    }
  })
})
