/**
 * @since 0.1.0
 */
export * as DurablyNode from "./DurablyNode.js"
export * as NodeHttp from "./NodeHttp.js"
export * as NodeStore from "./NodeStore.js"
