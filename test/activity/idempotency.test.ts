import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { errorCodes } from '../metrics/helpers.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/**
 * logAction's idempotencyKey (issue 17): a repeat by the same caller returns the first call's action and
 * changes nothing else: no second action, feed entry, unread count or grouping amendment.
 */
let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

describe('logAction idempotencyKey', () => {
  it('a repeated call returns the same action; one feed entry, exact unread count', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const input = { actor: { type: 'Bot', id: 'b1' }, verb: 'edited', targets: [doc], groupingDelay: -1, idempotencyKey: uniqueId('key') };
    const first = await h.logAction(input);
    const again = await h.logAction(input);
    expect(again.id).toBe(first.id);
    expect(again.verb).toBe('edited');
    expect(again.targets).toEqual(first.targets);
    expect(await h.feedIds(user)).toEqual([first.id]);
    expect(await h.unreadCount(user)).toBe(1);
    // Without a key (or with another one), the same call is a new action.
    const other = await h.logAction({ ...input, idempotencyKey: uniqueId('key') });
    expect(other.id).not.toBe(first.id);
    expect(await h.unreadCount(user)).toBe(2);
  });

  it('concurrent calls with one key log one action', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const input = { actor: { type: 'Bot', id: 'b2' }, verb: 'edited', targets: [doc], groupingDelay: -1, idempotencyKey: uniqueId('key') };
    const results = await Promise.all(Array.from({ length: 6 }, () => h.logAction(input)));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await h.feedIds(user)).toEqual([results[0].id]);
    expect(await h.unreadCount(user)).toBe(1);
  });

  it('a repeat does not amend a grouped action again', async () => {
    const doc = { type: 'Doc', id: uniqueId('doc') };
    const actor = { type: 'Bot', id: uniqueId('b') };
    const first = await h.logAction({ actor, verb: 'liked', targets: [doc], groupingDelay: 3600 });
    const key = uniqueId('key');
    const grouped = await h.logAction({ actor, verb: 'liked', targets: [doc], groupingDelay: 3600, idempotencyKey: key });
    expect(grouped.id).toBe(first.id);
    expect(grouped.groupedCount).toBe(2);
    const repeat = await h.logAction({ actor, verb: 'liked', targets: [doc], groupingDelay: 3600, idempotencyKey: key });
    expect(repeat.id).toBe(first.id);
    expect(repeat.groupedCount).toBe(2);
  });

  it('keys are per caller: another user with the same key logs its own action', async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const key = uniqueId('key');
    const a = await h.logAction({ actor: { type: 'User', id: alice }, verb: 'posted', idempotencyKey: key }, await t.userToken(alice));
    const b = await h.logAction({ actor: { type: 'User', id: bob }, verb: 'posted', idempotencyKey: key }, await t.userToken(bob));
    expect(b.id).not.toBe(a.id);
    expect(b.actor.id).toBe(bob);
    const s = await h.logAction({ actor: { type: 'User', id: bob }, verb: 'posted', idempotencyKey: key });
    expect(s.id).not.toBe(b.id);
    expect((await h.logAction({ actor: { type: 'User', id: alice }, verb: 'posted', idempotencyKey: key }, await t.userToken(alice))).id).toBe(a.id);
  });

  it('bad keys (empty, too long, NUL) are BAD_USER_INPUT and log nothing', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    for (const bad of ['', 'k'.repeat(129), 'a\u0000b']) {
      const result = await t.gql(
        'mutation LogAction($input: LogActionInput!) { logAction(input: $input) { id } }',
        { input: { actor: { type: 'Bot', id: 'b3' }, verb: 'edited', targets: [doc], idempotencyKey: bad } },
        h.service,
      );
      expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await h.feedIds(user)).toEqual([]);
    expect(await h.unreadCount(user)).toBe(0);
  });

  it('logActions: an input whose key was used before (in an earlier call or earlier in the same call) returns that action and logs nothing', async () => {
    const user = uniqueId('u');
    const doc = { type: 'Doc', id: uniqueId('doc') };
    await h.track({ owner: user, object: doc, actorOnly: false });
    const [k1, k2] = [uniqueId('key'), uniqueId('key')];
    const LOG_ACTIONS = 'mutation LogActions($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id verb } }';
    const input = (verb: string, key?: string) => ({ actor: { type: 'Bot', id: uniqueId('b') }, verb, targets: [doc], groupingDelay: -1, ...(key ? { idempotencyKey: key } : {}) });
    const first = (await t.ok(LOG_ACTIONS, { inputs: [input('a', k1), input('b'), input('c', k1)] }, h.service)).logActions;
    expect(first[0].id).not.toBe(first[1].id);
    expect(first[2]).toEqual(first[0]); // same key later in the call: the first input's action
    expect(await h.unreadCount(user)).toBe(2);
    // The retry of the whole call, plus one new keyed input: only the new one is logged.
    const again = (await t.ok(LOG_ACTIONS, { inputs: [input('a', k1), input('d', k2)] }, h.service)).logActions;
    expect(again[0]).toEqual(first[0]);
    expect(again[1].verb).toBe('d');
    expect(await h.unreadCount(user)).toBe(3);
    expect(new Set(await h.feedIds(user))).toEqual(new Set([first[0].id, first[1].id, again[1].id]));
    // Same key by logAction: the action logActions logged.
    expect((await h.logAction(input('x', k2))).id).toBe(again[1].id);
  });
});
