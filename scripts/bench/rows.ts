// What every bench section reports: table rows and the raw measurements.

/** One row of the table: each repetition's value for ours and for upstream. */
export interface Row {
  readonly section: string
  readonly workload: string
  readonly metric: string
  /** Whether a larger value is better (throughput) or worse (latency, memory). */
  readonly higherIsBetter: boolean
  readonly ours: ReadonlyArray<number>
  readonly upstream: ReadonlyArray<number>
  /** The floor's measurements, for workloads that have one. */
  readonly floor?: ReadonlyArray<number>
}

/** One measurement as it came back. */
export interface Raw {
  readonly section: string
  readonly workload: string
  readonly impl: string
  readonly spec: object
  readonly result: Record<string, number>
}
