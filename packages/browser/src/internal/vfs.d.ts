// Types for the OPFS pool VFS of @effect/wa-sqlite, which ships it untyped.
declare module "@effect/wa-sqlite/src/examples/AccessHandlePoolVFS.js" {
  export class AccessHandlePoolVFS {
    static create(name: string, module: unknown): Promise<AccessHandlePoolVFS>
    readonly name: string
    /** Files associated with a path (databases and journals). */
    getSize(): number
    /** Files in the pool. */
    getCapacity(): number
    addCapacity(n: number): Promise<number>
    close(): Promise<void>
  }
}
