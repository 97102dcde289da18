import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

describe('tombstones through public metrics', () => {
  it("an anonymous caller cannot read a forgotten object's tombstone through Metric.top; a service can", async () => {
    const domain = uniqueId('pub');
    await t.ok(
      `mutation($d: ID!) { registerDomain(ref: $d, name: "Public") { ref } registerMetric(domain: $d, ref: "views", name: "Views", public: true) { ref } }`,
      { d: domain },
      { token: t.serviceToken },
    );
    const victim = { type: 'User', id: uniqueId('bob') };
    await t.ok(
      `mutation($o: ObjectRefInput!) { forgetObject(object: $o, description: "Bob (deleted)", serialization: { email: "bob@example.com" }) { deleted } }`,
      { o: victim },
      { token: t.serviceToken },
    );
    // Anyone may increment a public metric for any object...
    await t.ok(`mutation($d: ID!, $o: ObjectRefInput!) { increment(events: [{ domain: $d, metric: "views", object: $o }]) { accepted } }`, {
      d: domain,
      o: victim,
    });
    const query = `query($d: ID!) { domain(ref: $d) { metric(ref: "views") { top(period: LIFETIME) { object { id deleted description serialization } value } } } }`;
    // ...but the ranking does not reveal the tombstone to them.
    const anonymous = await t.ok(query, { d: domain });
    expect(anonymous.domain.metric.top).toEqual([
      { object: { id: victim.id, deleted: false, description: null, serialization: null }, value: 1 },
    ]);
    const service = await t.ok(query, { d: domain }, { token: t.serviceToken });
    expect(service.domain.metric.top).toEqual([
      { object: { id: victim.id, deleted: true, description: 'Bob (deleted)', serialization: { email: 'bob@example.com' } }, value: 1 },
    ]);
  });
});
