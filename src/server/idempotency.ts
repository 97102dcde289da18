import { z } from 'zod';
import type { Viewer } from './auth.ts';

/**
 * Client-chosen idempotency keys (increment ids, logAction's idempotencyKey): shared limits and the caller
 * scope they are stored under. A key is only ever compared with keys of the same caller, so one caller can
 * neither observe nor pre-empt another's keys (anonymous callers share one scope).
 */

/** Longest key a client may send (a UUID is 36 characters). */
export const IDEMPOTENCY_KEY_MAX = 128;

/** Checked at the edge (BAD_USER_INPUT naming the field); NUL is refused for every string by the input guard. */
export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(IDEMPOTENCY_KEY_MAX, `must be at most ${IDEMPOTENCY_KEY_MAX} characters`);

/**
 * The problem with a key, or null when it is acceptable (for hot paths that check many keys without zod).
 * Characters are code points, as zod counts them (and PostgreSQL): an emoji is one character, not two.
 */
export function idempotencyKeyProblem(key: string): string | null {
  if (key.length === 0) return 'must not be empty';
  if (key.length > IDEMPOTENCY_KEY_MAX && codePoints(key) > IDEMPOTENCY_KEY_MAX) return `must be at most ${IDEMPOTENCY_KEY_MAX} characters`;
  if (key.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  return null;
}

/** The namespace of a caller's keys: `service:<sub>`, `user:<sub>` or `anonymous`. */
export function callerScope(viewer: Viewer): string {
  return viewer.kind === 'anonymous' ? 'anonymous' : `${viewer.kind}:${viewer.id}`;
}

/** The number of code points of `text` (a surrogate pair is one). */
function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
