// Run ids: ULID layout (10 time digits, 16 random ones, Crockford base32),
// strictly increasing from one source, so trigger order is id order.
import { describe, expect, it } from "vitest"
import { makeRunIdSource } from "../../packages/core/src/internal/runId.js"

const crockford = /^[0-9A-HJKMNP-TV-Z]{26}$/
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
const timeOf = (id: string) => [...id.slice(0, 10)].reduce((ms, digit) => ms * 32 + alphabet.indexOf(digit), 0)

describe("run ids", () => {
  it("are 26 Crockford base32 characters, with the time in the first ten", () => {
    const next = makeRunIdSource()
    const at = Date.UTC(2026, 0, 1, 12, 30, 15, 123)
    const id = next(at)
    expect(id).toMatch(crockford)
    expect(timeOf(id)).toBe(at)
    // Time never goes back within a source: an earlier clock reading keeps the last time.
    expect(timeOf(next(at - 5000))).toBe(at)
  })

  it("increase strictly within a millisecond, across milliseconds and across refills of the random pool", () => {
    const next = makeRunIdSource()
    const ids: Array<string> = []
    for (let i = 0; i < 3000; i++) ids.push(next(1_700_000_000_000 + Math.floor(i / 500)))
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(crockford)
  })

  it("start each millisecond at a random point that leaves room to count up", () => {
    const next = makeRunIdSource()
    const firsts = Array.from({ length: 600 }, (_, i) => next(1_700_000_000_000 + i * 2).slice(10))
    // The first random digit is below 16 (0-9, A-G), so increments never overflow.
    for (const random of firsts) expect("0123456789ABCDEFG").toContain(random[0])
    // 600 fresh draws of 16 bytes span three 4 KB pools of random bytes, and are all different.
    expect(new Set(firsts).size).toBe(firsts.length)
  })
})
