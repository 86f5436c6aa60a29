/**
 * @since 0.1.0
 */
export * as DurablyApi from "./DurablyApi.js"
export * as DurablyHttp from "./DurablyHttp.js"
