import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { subscribeFeed } from '../support/feed-subscriber.ts';
import { foldAndTotal, post, registerCounter, signTestToken, startInstance, type Instance } from '../support/instances.ts';
import { runIncrementLoad } from '../support/load.ts';

/** Two real processes sharing one Postgres (and Redis, when REDIS_URL is set). */
const shared = Boolean(process.env['DATABASE_URL']);

describe.skipIf(!shared)('two instances on one Postgres', () => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;
  let service: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const options = { databaseUrl: database.url, redisUrl: process.env['REDIS_URL'] };
    // One after the other (instances starting at the same moment are the test at the end of this file).
    a = await startInstance(options);
    b = await startInstance(options);
    service = await signTestToken('two-service', ['service']);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled([a?.kill(), b?.kill()]);
    await database?.drop();
  });

  it('counts increments sent to both exactly once while both fold at the same time', async () => {
    const domain = uniqueId('two');
    await registerCounter(a.url, service, domain, 'n');
    const controller = new AbortController();
    const load = runIncrementLoad({
      urls: [a.url, b.url],
      token: service,
      domain,
      metric: 'n',
      concurrency: 6,
      eventsPerRequest: 10,
      signal: controller.signal,
    });
    const fold = (url: string) => post(url, 'mutation { foldCounters { folded } }', {}, service);
    const folds: Array<Promise<unknown>> = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      folds.push(fold(a.url), fold(b.url));
    }
    controller.abort();
    const result = await load;
    await Promise.all(folds);
    await fold(a.url);
    expect(result.unacked).toBe(0);
    expect(await foldAndTotal(b.url, service, domain, 'n')).toBe(result.acked);
  }, 60_000);

  it.skipIf(!process.env['REDIS_URL'])(
    'delivers an action logged on B to a subscriber on A, and A keeps serving when B dies',
    async () => {
      const user = uniqueId('reader');
      const userToken = await signTestToken(user);
      const topic = { type: 'Topic', id: uniqueId('topic') };
      const tracked = await post(a.url, 'mutation($o: ObjectRefInput!) { track(input: { object: $o, actorOnly: false }) { id } }', { o: topic }, userToken);
      expect(tracked.body.errors).toBeUndefined();
      const subscriber = await subscribeFeed(a.url, userToken);
      const log = (url: string, verb: string) =>
        post(
          url,
          'mutation($o: ObjectRefInput!, $v: String!) { logAction(input: { actor: { type: "Bot", id: "b1" }, verb: $v, targets: [$o] }) { id } }',
          { o: topic, v: verb },
          service,
        );
      expect((await log(b.url, 'posted')).body.errors).toBeUndefined();
      const fromB = await subscriber.waitFor((e) => e.kind === 'ADDED' && e.action?.verb === 'posted');
      expect(fromB.unreadCount).toBe(1);

      await b.kill();
      expect((await log(a.url, 'commented')).body.errors).toBeUndefined();
      const fromA = await subscriber.waitFor((e) => e.kind === 'ADDED' && e.action?.verb === 'commented');
      expect(fromA.unreadCount).toBe(2);
      await subscriber.dispose();
    },
    60_000,
  );
});

describe.skipIf(!shared)('instances started at the same moment on an empty database', () => {
  it('all start: the migrations run once, one instance after the other (three rounds of three)', async () => {
    for (let round = 0; round < 3; round++) {
      const database = await createTestDatabase();
      const started = await Promise.allSettled([0, 1, 2].map(() => startInstance({ databaseUrl: database.url })));
      try {
        const failures = started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
        expect(failures, `round ${round}`).toEqual([]);
        for (const s of started) {
          const instance = (s as PromiseFulfilledResult<Instance>).value;
          expect((await post(instance.url, '{ __typename }')).body.data).toEqual({ __typename: 'Query' });
        }
      } finally {
        await Promise.allSettled(started.map((s) => (s.status === 'fulfilled' ? s.value.kill() : undefined)));
        await database.drop();
      }
    }
  }, 240_000);
});
