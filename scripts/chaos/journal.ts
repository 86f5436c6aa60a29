// The journal: what the worker processes did, recorded outside the database.
// Each process appends JSON lines to a file of its own with one write(2) on an
// O_APPEND descriptor per line, synchronously, so a line is on the file before
// the process goes on, and a SIGKILL leaves whole lines behind.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs"
import { join } from "node:path"

interface Base {
  /** Wall-clock milliseconds with sub-millisecond precision (comparable across processes of one machine). */
  readonly t: number
  readonly proc: string
  readonly pid: number
  readonly run: string
}

/** One line of a journal. */
export type Entry = Base &
  (
    /** The job function starts; `attempt` is its claim's (from `run:leased`), null if that event never came. */
    | { readonly k: "exec-start"; readonly exec: string; readonly attempt: number | null }
    | { readonly k: "step-start"; readonly exec: string; readonly step: string; readonly nonce: string }
    | { readonly k: "step-end"; readonly exec: string; readonly step: string; readonly nonce: string }
    /** The job function's last act before it returns its output. */
    | { readonly k: "run-end"; readonly exec: string }
    /** The job's AbortSignal fired (lease lost, cancel, shutdown). */
    | { readonly k: "abort"; readonly exec: string; readonly reason: string }
    /** From the `run:leased` event (for reading the journals; the checks use `exec-start`'s attempt). */
    | { readonly k: "leased"; readonly attempt: number }
    /** From the `run:complete` event: the completion was stored, with this execution's output. */
    | { readonly k: "complete"; readonly exec: string }
    /** From the `worker:error` event (`run` may be empty). */
    | { readonly k: "worker-error"; readonly error: string }
  )

export type Kind = Entry["k"]
type Fields<K extends Kind> = Omit<Extract<Entry, { k: K }>, "t" | "proc" | "pid" | "k">

export const now = (): number => performance.timeOrigin + performance.now()

export const journalFile = (dir: string, proc: string): string => join(dir, `journal-${proc}.log`)

/** The writer of one process's journal. */
export const openJournal = (dir: string, proc: string) => {
  const fd = openSync(journalFile(dir, proc), "a")
  return {
    write: <K extends Kind>(k: K, fields: Fields<K>): void => {
      const entry = { t: now(), proc, pid: process.pid, k, ...fields }
      writeSync(fd, `${JSON.stringify(entry)}\n`)
    },
    close: (): void => closeSync(fd)
  }
}

export interface Journals {
  /** Every entry of every journal, ordered by time. */
  readonly entries: ReadonlyArray<Entry>
  /** Lines that are not an entry, with their file (a SIGKILL should never leave one). */
  readonly malformed: ReadonlyArray<string>
}

/** Reads every journal in `dir`. */
export const readJournals = (dir: string): Journals => {
  const entries: Array<Entry> = []
  const malformed: Array<string> = []
  if (!existsSync(dir)) return { entries, malformed }
  for (const file of readdirSync(dir).filter((name) => name.startsWith("journal-")).sort()) {
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      if (line.length === 0) continue
      try {
        entries.push(JSON.parse(line) as Entry)
      } catch {
        malformed.push(`${file}: ${line}`)
      }
    }
  }
  entries.sort((a, b) => a.t - b.t)
  return { entries, malformed }
}
