// SQL the suite writes, built from checked names only: quoting, the one TRUNCATE, bounded counts,
// and the SQLSTATE codes the suite reacts to.
import { TABLE_NAME } from '../config/settings.ts'

/** SQLSTATE: a lock not granted within lock_timeout. */
export const LOCK_NOT_AVAILABLE = '55P03'
/** SQLSTATE: chosen as a deadlock victim; worth a retry. */
export const DEADLOCK = '40P01'
/** SQLSTATE: a write refused in a READ ONLY transaction (a query meant only to read tried to write). */
export const READ_ONLY_TRANSACTION = '25006'

/** Double-quote an identifier or schema.identifier whose form checkTableName accepted. */
export function quoteIdent(name: string): string {
  if (!TABLE_NAME.test(name)) throw new Error(`refusing to quote malformed name ${JSON.stringify(name)}`)
  return name
    .split('.')
    .map((p) => `"${p}"`)
    .join('.')
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/**
 * One TRUNCATE of exactly the tables named, in a transaction with lock and statement timeouts.
 * ONLY for plain tables: a table's inheritance children are emptied only when the plan names them
 * too (a partitioned table cannot be truncated ONLY; its partitions are in the plan). No CASCADE:
 * every table a foreign key ties to them is in the list, so PostgreSQL itself refuses if a table
 * appeared that the plan did not name.
 */
export function truncateSql(
  tables: string[],
  lockTimeoutMs: number,
  statementTimeoutMs: number,
  partitioned: string[] = [],
): string {
  const target = (t: string) => (partitioned.includes(t) ? quoteIdent(t) : `ONLY ${quoteIdent(t)}`)
  return [
    'BEGIN;',
    `SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms';`,
    `SET LOCAL statement_timeout = '${Math.round(statementTimeoutMs)}ms';`,
    `TRUNCATE TABLE ${tables.map(target).join(', ')} RESTART IDENTITY;`,
    'COMMIT;',
  ].join('\n')
}

/**
 * Counting stops past this many rows a table: an exact count of a million rows costs more than
 * the TRUNCATE itself, and "10000+" says enough. Zero, the count that proves the reset, is exact.
 */
export const COUNT_LIMIT = 10_000

/** Rows of each table itself (ONLY: a parent's count leaves its children out), up to COUNT_LIMIT + 1. */
export function countSql(tables: string[]): string {
  return tables
    .map(
      (t) =>
        `SELECT ${literal(t)} AS name, count(*)::int AS n FROM (SELECT 1 FROM ONLY ${quoteIdent(t)} LIMIT ` +
        `${COUNT_LIMIT + 1}) t`,
    )
    .join('\nUNION ALL\n')
}

/** A count from countSql for people: "10000+" when counting stopped. */
export function showCount(n: number): string {
  return n > COUNT_LIMIT ? `${COUNT_LIMIT}+` : String(n)
}
