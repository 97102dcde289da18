import { badInput } from '../server/errors.ts';

/** Opaque, stable keyset cursors over action ids (feeds and the actions accessors). */
export function encodeCursor(actionId: string): string {
  return Buffer.from(`action:${actionId}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^action:(\d{1,19})$/.exec(decoded);
  if (!match?.[1]) throw badInput('after: not a cursor returned by this connection');
  return match[1];
}
