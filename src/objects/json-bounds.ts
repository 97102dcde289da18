import { z } from 'zod';
import { badInput } from '../server/errors.ts';

/** JSON arguments (action data, tombstone serializations) may nest at most this deep. */
export const JSON_MAX_DEPTH = 32;

/**
 * Whether a JSON value nests deeper than `max` (objects and arrays count one level each). Iterative, and
 * stops at the first level past `max`, so a hostile 100,000-level value costs nothing and never overflows
 * the stack (JSON.stringify of it would).
 */
export function jsonDeeperThan(value: unknown, max: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length > 0; depth++) {
    const next: unknown[] = [];
    for (const v of level) {
      if (v === null || typeof v !== 'object') continue;
      if (depth >= max) return true;
      for (const child of Array.isArray(v) ? v : Object.values(v)) {
        if (child !== null && typeof child === 'object') next.push(child);
      }
    }
    level = next;
  }
  return false;
}

/** Validation-plugin schema of a JSON argument: depth-bounded (sizes depend on config: see `checkJsonSize`). */
export const boundedJsonSchema = z.unknown().superRefine((value, ctx) => {
  if (jsonDeeperThan(value, JSON_MAX_DEPTH)) {
    ctx.addIssue({ code: 'custom', message: `must be nested at most ${JSON_MAX_DEPTH} levels deep` });
  }
});

/** BAD_USER_INPUT naming `field` when the JSON text of `value` is over `maxBytes` (call after the depth check). */
export function checkJsonSize(value: unknown, field: string, maxBytes: number): void {
  if (value === null || value === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (size > maxBytes) throw badInput(`${field}: ${size} bytes, at most ${maxBytes} allowed`);
}
