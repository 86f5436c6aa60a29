/**
 * Durably for plain TypeScript: `defineJob` and `createDurably` over the
 * Effect engine of `@durably/core`.
 */
export * from "./createDurably.js"
export * from "./defineJob.js"
export * from "./errors.js"
export * from "./createDurablyHandler.js"
