import { parseBigintId } from '../db/bigint-id.ts';
import { badInput } from '../server/errors.ts';

/** Opaque, stable keyset cursors over action ids (feeds and the actions accessors). */
export function encodeCursor(actionId: string): string {
  return Buffer.from(`action:${actionId}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('action:') ? parseBigintId(decoded.slice(7)) : null;
  if (id === null) throw badInput('after: not a cursor returned by this connection');
  return id;
}
