import { describe, expect, it } from 'vitest';
import { uniqueId, type TestApp } from '../support/app.ts';
import { useActivityApp, type ActivityHelpers } from './helpers.ts';

/** logActions: several actions in one transaction, grouping within the call with delay 0 (issue 10 item 3). */

let t: TestApp;
let h: ActivityHelpers;
useActivityApp((started) => ({ t, h } = started));

const LOG_ACTIONS = `mutation($inputs: [LogActionInput!]!) { logActions(inputs: $inputs) { id verb groupedCount targets { id } } }`;

describe('logActions', () => {
  it('groups similar actions of one call with delay 0, never with actions saved before', async () => {
    const user = uniqueId('u');
    const actor = { type: 'Author', id: uniqueId('a') };
    const doc = { type: 'Doc', id: uniqueId('d') };
    await h.track({ owner: user, object: actor });
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString();
    const saved = await h.logAction({ actor, verb: 'edited', targets: [doc], timestamp: at(5) });
    const { logActions } = await t.ok<{ logActions: Array<{ id: string; groupedCount: number; targets: Array<{ id: string }> }> }>(
      LOG_ACTIONS,
      {
        inputs: [
          { actor, verb: 'edited', targets: [doc], timestamp: at(4) },
          { actor, verb: 'edited', targets: [doc, { type: 'Doc', id: 'other' }], timestamp: at(3) },
          { actor, verb: 'commented', targets: [doc], timestamp: at(2) },
          { actor, verb: 'edited', targets: [doc], timestamp: at(1) },
        ],
      },
      h.service,
    );
    const [a, b, c, d] = logActions;
    expect(a!.id).not.toBe(saved.id);
    expect(b!.id).toBe(a!.id);
    expect(d!.id).toBe(a!.id);
    expect(d!.groupedCount).toBe(3);
    expect(d!.targets.map((x) => x.id)).toEqual([doc.id, 'other']);
    expect(c!.id).not.toBe(a!.id);
    // The saved action was not amended; the feed has three actions, all unread; the grouped one took the
    // timestamp of its newest input (after 'commented').
    const feed = (await h.feed(user)).edges.map((e) => [e.node.id, e.node.groupedCount]);
    expect(feed).toEqual([
      [a!.id, 3],
      [c!.id, 1],
      [saved.id, 1],
    ]);
    expect(await h.unreadCount(user)).toBe(3);
  });

  it("with delay 0, groups into the call's first similar action, and never into an existing one an earlier input amended (actrack's request queue)", async () => {
    const actor = { type: 'User', id: uniqueId('u') };
    const [t1, t2] = [{ type: 'Task', id: uniqueId('t') }, { type: 'Task', id: uniqueId('t') }];
    const [p1, p2] = [{ type: 'Proj', id: uniqueId('p') }, { type: 'Proj', id: uniqueId('p') }];
    const at = (s: number) => new Date(Date.UTC(2031, 5, 1, 12, 0, s)).toISOString();
    const call = await t.ok<{ logActions: Array<{ id: string; groupedCount: number }> }>(
      LOG_ACTIONS,
      {
        inputs: [
          { actor, verb: 'edited', targets: [t1], related: [p1], timestamp: at(10), groupingDelay: 0 },
          { actor, verb: 'edited', targets: [t2], related: [p2], timestamp: at(20), groupingDelay: 0 },
          // Matches both (targets of the first, related of the second): the first one created wins.
          { actor, verb: 'edited', targets: [t1], related: [p2], timestamp: at(5), groupingDelay: 0 },
        ],
      },
      h.service,
    );
    const [a, b, c] = call.logActions;
    expect(c!.id).toBe(a!.id);
    expect([a!.id === b!.id, c!.groupedCount]).toEqual([false, 2]);

    // An existing action amended by an earlier input (delay 30) is not one of the call's: delay 0 creates anew.
    const existing = await h.logAction({ actor, verb: 'closed', targets: [t1], timestamp: at(0), groupingDelay: -1 });
    const second = await t.ok<{ logActions: Array<{ id: string; groupedCount: number }> }>(
      LOG_ACTIONS,
      {
        inputs: [
          { actor, verb: 'closed', targets: [t1], timestamp: at(10), groupingDelay: 30 },
          { actor, verb: 'closed', targets: [t1], timestamp: at(12), groupingDelay: 0 },
        ],
      },
      h.service,
    );
    expect(second.logActions.map((x) => x.id === existing.id)).toEqual([true, false]);
  });

  it('one transaction: an invalid input stores none of the call', async () => {
    const actor = { type: 'Author', id: uniqueId('a') };
    const result = await t.gql(LOG_ACTIONS, { inputs: [{ actor, verb: 'ok' }, { actor, verb: '   ' }] }, h.service);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    // The refusal names the input and its field, in the message and in extensions.issues.
    expect(result.errors?.[0]?.message).toBe('inputs.1.verb: must not be empty');
    expect(result.errors?.[0]?.extensions?.['issues']).toEqual([{ path: 'inputs.1.verb', message: 'must not be empty' }]);
    const big = await t.gql(LOG_ACTIONS, { inputs: [{ actor, verb: 'ok' }, { actor, verb: 'ok' }, { actor, verb: 'ok', data: { x: 'y'.repeat(20_000) } }] }, h.service);
    expect(big.errors?.[0]?.extensions?.['issues']).toEqual([{ path: 'inputs.2.data', message: expect.stringMatching(/bytes, at most \d+ allowed/) }]);
    const many = await t.gql(LOG_ACTIONS, { inputs: [{ actor, verb: 'ok', targets: Array.from({ length: 101 }, (_, i) => ({ type: 'T', id: String(i) })) }] }, h.service);
    expect(many.errors?.[0]?.extensions?.['issues']).toEqual([{ path: 'inputs.0.targets', message: 'at most 100 objects' }]);
    const actions = await t.ok<{ actions: { edges: unknown[] } }>(`query($a: ObjectRefInput) { actions(actor: $a) { edges { node { id } } } }`, { a: actor }, h.service);
    expect(actions.actions.edges).toEqual([]);
  });

  it('is bounded (100 per call) and users may only log their own actions', async () => {
    const actor = { type: 'Author', id: uniqueId('a') };
    const tooMany = Array.from({ length: 101 }, () => ({ actor, verb: 'x' }));
    const refused = await t.gql(LOG_ACTIONS, { inputs: tooMany }, h.service);
    expect(refused.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    const userId = uniqueId('u');
    const token = await t.userToken(userId);
    const self = { type: 'User', id: userId };
    const mixed = await t.gql(LOG_ACTIONS, { inputs: [{ actor: self, verb: 'x' }, { actor, verb: 'x' }] }, { token });
    expect(mixed.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    const own = await t.ok<{ logActions: unknown[] }>(LOG_ACTIONS, { inputs: [{ actor: self, verb: 'x' }, { actor: self, verb: 'y' }] }, { token });
    expect(own.logActions).toHaveLength(2);
    expect((await t.ok<{ logActions: unknown[] }>(LOG_ACTIONS, { inputs: [] }, { token })).logActions).toEqual([]);
  });
});
