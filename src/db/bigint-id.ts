/**
 * Database ids that are PostgreSQL `bigint`s (actions, feed positions) travel as decimal strings (in cursors
 * and global ids). This is the one parser of such text: digits only, within the `bigint` range, so that a
 * caller's 19-digit number past 2^63 - 1 is refused as bad input instead of failing in SQL.
 */

const BIGINT_MAX = 9_223_372_036_854_775_807n;

/** The id when `text` is a non-negative decimal `bigint` (at most 19 digits, at most 2^63 - 1), else null. */
export function parseBigintId(text: string): string | null {
  if (!/^\d{1,19}$/.test(text)) return null;
  return text.length < 19 || BigInt(text) <= BIGINT_MAX ? text : null;
}
