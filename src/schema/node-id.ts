import { decodeGlobalID } from '@pothos/plugin-relay';
import { parseBigintId } from '../db/bigint-id.ts';
import { badInput } from '../server/errors.ts';

/**
 * The one reading of a node's global id (base64 of `Type:id`, Relay's form) into its database id. Every node
 * type's objects have positive integer ids, and an id has exactly one spelling: the decimal digits of the
 * number, no sign, spaces, leading zeros or exponent (`Action:0001` is not action 1), within PostgreSQL's
 * `bigint`. So `node(id:)`, `markRead(actionIds:)`, a `tracker:` filter and the webhook calls accept and refuse
 * the same ids, each refusal a BAD_USER_INPUT naming the argument.
 */

/** The database id when `text` is one in its only spelling (1 to 2^63 - 1, no leading zero), else null. */
export function canonicalRowId(text: string): string | null {
  return /^[1-9]\d{0,18}$/.test(text) ? parseBigintId(text) : null;
}

/** Node types whose ids are PostgreSQL `integer`s (the others are `bigint`s): one past 2^31 - 1 is no id of theirs. */
const INTEGER_ID_TYPES = new Set(['Tracker', 'Webhook']);
const INTEGER_MAX = 2_147_483_647n;

/** Type name and canonical database id of a global id, or null when it is not one (any type). */
export function readGlobalId(raw: string | number): { typename: string; id: string } | null {
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(String(raw));
  } catch {
    return null;
  }
  const id = canonicalRowId(decoded.id);
  if (id === null || (INTEGER_ID_TYPES.has(decoded.typename) && BigInt(id) > INTEGER_MAX)) return null;
  return { typename: decoded.typename, id };
}

/** The database id of a global id of `typename`; anything else is BAD_USER_INPUT naming `field`. */
export function nodeDbId(raw: string | number, typename: string, field: string): string {
  const decoded = readGlobalId(raw);
  if (decoded === null || decoded.typename !== typename) {
    throw badInput(`${field}: "${String(raw).slice(0, 100)}" is not ${/^[AEIOU]/.test(typename) ? 'an' : 'a'} ${typename} id`);
  }
  return decoded.id;
}
