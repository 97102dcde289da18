import { parseBigintId } from '../db/bigint-id.ts';
import { badInput } from '../server/errors.ts';

/**
 * Opaque keyset cursors over (timestamp, action id), newest first (actrack orders by `-timestamp`): feeds and
 * the actions accessors. The timestamp is kept in microseconds since the epoch, PostgreSQL's own precision,
 * so a cursor compares exactly with the stored value.
 */

export interface CursorKey {
  /** Microseconds since the Unix epoch, as a decimal string. */
  tsUs: string;
  /** Database action id. */
  id: string;
}

/** A page request: `first` rows after `after`, or (backward) the `last` rows before `before`. */
export interface Page {
  /** Rows to return (already capped). */
  limit: number;
  /** Newest-first position to continue after (exclusive). */
  after?: CursorKey | null | undefined;
  /** Newest-first position to stop before (exclusive). */
  before?: CursorKey | null | undefined;
  /** `last`/`before`: the rows nearest to `before`, still returned newest first. */
  backward?: boolean | undefined;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(`action:${key.tsUs}:${key.id}`, 'utf8').toString('base64url');
}

const MAX_TS_US = 10n ** 17n;

export function decodeCursor(cursor: string, arg: 'after' | 'before'): CursorKey {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^action:(-?\d{1,18}):(\d{1,19})$/.exec(decoded);
  const id = match ? parseBigintId(match[2]!) : null;
  if (!match || id === null || BigInt(match[1]!) >= MAX_TS_US || BigInt(match[1]!) <= -MAX_TS_US) {
    throw badInput(`${arg}: not a cursor returned by this connection`);
  }
  return { tsUs: BigInt(match[1]!).toString(), id };
}

/** SQL selecting the sort timestamp of a row in microseconds (for its cursor), aliased `sort_ts_us`. */
export function sortKeyColumn(tsExpr: string): string {
  return `(extract(epoch from ${tsExpr}) * 1000000)::bigint::text as sort_ts_us`;
}

/**
 * The keyset conditions and order of a page over (tsExpr, idExpr): where clauses (with their parameters),
 * the ORDER BY, and the row limit (one more than asked, to tell whether there is more).
 */
export function keyset(page: Page, tsExpr: string, idExpr: string): { where: string[]; params: unknown[]; orderBy: string } {
  const where: string[] = [];
  const params: unknown[] = [];
  const key = (k: CursorKey) => {
    params.push(k.tsUs, k.id);
    return `(timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::bigint)`;
  };
  if (page.after) where.push(`(${tsExpr}, ${idExpr}) < ${key(page.after)}`);
  if (page.before) where.push(`(${tsExpr}, ${idExpr}) > ${key(page.before)}`);
  const dir = page.backward ? 'asc' : 'desc';
  return { where, params, orderBy: `${tsExpr} ${dir}, ${idExpr} ${dir}` };
}
