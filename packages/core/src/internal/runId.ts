// Run ids: 26-character, lexicographically sortable (ULID layout: 48-bit time in
// ms, then 80 random bits, Crockford base32). Within one generator, ids made in
// the same millisecond increase, so trigger order is id order.
import { Clock, Effect } from "effect"

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const encodeTime = (ms: number): string => {
  let out = ""
  let rest = ms
  for (let i = 0; i < 10; i++) {
    out = alphabet[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}

// Random bytes are drawn 4 KB at a time (256 ids): one `getRandomValues` call
// per id cost more than the rest of making the id.
const pool = new Uint8Array(4096)
let pooled = 0

/** 16 random base32 digits, the first below 16 so that `increment` never overflows. */
const randomDigits = (): Array<number> => {
  if (pooled < 16) {
    globalThis.crypto.getRandomValues(pool)
    pooled = pool.length
  }
  const digits: Array<number> = []
  for (let i = 0; i < 16; i++) digits.push((pool[--pooled] ?? 0) % (i === 0 ? 16 : 32))
  return digits
}

/** Adds one to a base32 digit array; the caller keeps the top digit below 31 so it never overflows. */
const increment = (digits: ReadonlyArray<number>): Array<number> => {
  const next = [...digits]
  for (let i = next.length - 1; i >= 0; i--) {
    const digit = next[i] ?? 0
    if (digit < 31) {
      next[i] = digit + 1
      return next
    }
    next[i] = 0
  }
  return next
}

/** A source of monotonic ids: each call gives the next id for the time `now` (epoch ms). */
export const makeRunIdSource = (): ((now: number) => string) => {
  let last = { time: -1, random: [] as ReadonlyArray<number> }
  return (now) => {
    const time = Math.max(now, last.time)
    const random = time === last.time ? increment(last.random) : randomDigits()
    last = { time, random }
    let id = encodeTime(time)
    for (const digit of random) id += alphabet[digit]
    return id
  }
}

/** A generator of monotonic ids on the `Clock`; make one per store. */
export const makeRunIdGenerator = Effect.sync(() => {
  const next = makeRunIdSource()
  return Effect.map(Clock.currentTimeMillis, next)
})
