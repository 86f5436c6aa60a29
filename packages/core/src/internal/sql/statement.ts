// A statement the store runs, compiled once from its text with named
// parameters (`@name`) into the placeholders of its dialect, so every executor
// (SqlClient, SQLite's connection, PostgreSQL's prepared statements) runs the
// same text with the same positional parameters.

export type Row = Record<string, unknown>

/**
 * One statement: its text with positional placeholders, and the named
 * parameter each placeholder takes.
 */
export interface Statement {
  /**
   * Names the statement where it is prepared; one name always stands for one
   * text. None for a statement built for one call: it is not worth preparing.
   */
  readonly name: string | undefined
  readonly text: string
  readonly names: ReadonlyArray<string>
}

/**
 * SQLite binds `?` in order (a name may repeat); PostgreSQL numbers its
 * parameters `$1`, `$2`, … and one number may appear several times.
 */
export type Placeholders = "?" | "$"

const parameter = /@(\w+)/g

/**
 * `named` with its `@name` parameters replaced by `placeholders`. The names
 * are read here once: binding by name on every run (better-sqlite3 looks each
 * name up in the object given) costs more than a small statement itself.
 */
export const compile = (placeholders: Placeholders, name: string | undefined, named: string): Statement => {
  const names: Array<string> = []
  // A multi-row insert has thousands of parameters: a name's number is looked up, not searched for.
  const numbers = new Map<string, number>()
  const text = named.replace(parameter, (_, parameterName: string) => {
    if (placeholders === "?") {
      names.push(parameterName)
      return "?"
    }
    const known = numbers.get(parameterName)
    if (known !== undefined) return `$${known}`
    names.push(parameterName)
    numbers.set(parameterName, names.length)
    return `$${names.length}`
  })
  return { name, text, names }
}

/** The positional parameters of `statement`, taken by name from `values`. */
export const bind = (statement: Statement, values: Row): Array<unknown> =>
  statement.names.map((name) => values[name])

/** A statement built for one call (its shape depends on the call), with its parameters. */
export interface Bound {
  readonly statement: Statement
  readonly params: ReadonlyArray<unknown>
}

/** `statement` with its parameters taken from `values`. */
export const bound = (statement: Statement, values: Row): Bound => ({ statement, params: bind(statement, values) })

/** `named` with a `RETURNING` clause: how a write tells the rows it matched when only rows come back. */
export const returning = (named: string, columns = "id"): string => `${named}
    RETURNING ${columns}`
