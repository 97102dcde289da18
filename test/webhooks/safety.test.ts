import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityHelpers } from '../activity/helpers.ts';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { DELIVERIES, REGISTER, webhookHelpers } from './helpers.ts';
import { startReceiver, type Receiver } from './receiver.ts';

/** Safe by default (WEBHOOK_ALLOW_PRIVATE unset): URL refusals, the delivery-time address check, service-only access. */

let t: TestApp;
let r: Receiver;

beforeAll(async () => {
  t = await startTestApp({ WEBHOOK_POLL_MS: '100', WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_CONNECT_TIMEOUT_MS: '1000', WEBHOOK_RESPONSE_TIMEOUT_MS: '1500' });
  r = await startReceiver();
});
afterAll(async () => {
  await t?.stop();
  await r?.close();
});

const register = (url: string, events: string[] = ['ACTION_LOGGED'], extra: Record<string, unknown> = {}, token?: string) =>
  t.gql(REGISTER, { url, events, ...extra }, token === undefined ? { token: t.serviceToken } : token ? { token } : {});

describe('webhook URL safety', () => {
  it.each([
    ['http://example.com/hook', /https/],
    ['ftp://example.com/hook', /https/],
    ['not a url', /absolute URL/],
    ['https://user:pw@example.com/hook', /credentials/],
    ['https://127.0.0.1/hook', /private, loopback/],
    ['https://10.1.2.3/hook', /private, loopback/],
    ['https://192.168.1.10/hook', /private, loopback/],
    ['https://172.20.0.1/hook', /private, loopback/],
    ['https://169.254.169.254/latest/meta-data', /private, loopback/],
    ['https://[::1]/hook', /private, loopback/],
    ['https://[fe80::1]/hook', /private, loopback/],
    ['https://[::ffff:127.0.0.1]/hook', /private, loopback/],
    ['https://localhost/hook', /private, loopback/],
    ['https://2130706433/hook', /private, loopback/], // 127.0.0.1 as one number
    ['https://0x7f.1/hook', /private, loopback/], // 127.0.0.1 in hex shorthand
    ['https://[::ffff:a9fe:a9fe]/hook', /private, loopback/], // 169.254.169.254, IPv4-mapped
    ['https://api.localhost/hook', /private, loopback/],
    ['https://LOCALHOST./hook', /private, loopback/], // the root label's dot
    ['https://[2002:7f00:1::]/hook', /private, loopback/], // 6to4 wrapping 127.0.0.1
    ['https://[2002:a9fe:a9fe::1]/hook', /private, loopback/], // 6to4 wrapping 169.254.169.254
    [`https://example.com/${'x'.repeat(2100)}`, /2048/],
  ])('refuses %s', async (url, message) => {
    const result = await register(url);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(message);
    expect(result.errors?.[0]?.message).toMatch(/url/);
  });

  it('accepts a public https URL', async () => {
    const result = await register('https://hooks.example.com/trackql');
    expect(result.errors).toBeUndefined();
    expect(result.data?.registerWebhook.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    await t.ok(`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id: result.data?.registerWebhook.webhook.id }, { token: t.serviceToken });
  });

  it('refuses at registration a name that resolves to a non-public address', async () => {
    // "localhost." is refused by name; a name /etc/hosts maps to 127.0.0.1 by what it resolves to.
    const result = await register(`https://vm:${r.port}/hook`);
    expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/^url: vm resolves to a non-public address \(127\.0\.0\.1\)/);
  });

  it('checks the resolved address at delivery time (a name that resolves to loopback later: DNS rebinding)', async () => {
    // Registered while its name resolved elsewhere; now it resolves to 127.0.0.1 ("vm", /etc/hosts): set by SQL,
    // as a DNS answer that changed after registration.
    const type = uniqueId('Doc');
    const result = await register('https://hooks.example.com/trackql', ['ACTION_LOGGED'], { filter: { objectTypes: [type] } });
    expect(result.errors).toBeUndefined();
    const id = result.data!.registerWebhook.webhook.id as string;
    const dbId = Buffer.from(id, 'base64').toString('utf8').split(':')[1];
    await t.app.orm.em.fork().execute(`update webhook set url = ? where id = ?`, [`https://vm:${r.port}/hook`, Number(dbId)]);
    await activityHelpers(t).logAction({ actor: { type: 'User', id: 'x' }, verb: 'v', targets: [{ type, id: '1' }] });
    const w = webhookHelpers(t);
    await w.waitUntil(async () => (await w.deliveries(id, 'FAILED')).length === 1);
    const [d] = await w.deliveries(id);
    expect(d.lastError).toMatch(/non-public address \(127\.0\.0\.1\)/);
    expect(r.requests).toHaveLength(0);
    await t.ok(`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id }, { token: t.serviceToken });
  }, 30_000);

  it('says which field is wrong', async () => {
    const cases: Array<[string[], Record<string, unknown>, RegExp]> = [
      [[], {}, /events: at least one/],
      [['FEED_STILL_UNREAD'], {}, /remindAfter: required/],
      [['ACTION_LOGGED'], { remindAfter: 60 }, /remindAfter: only with/],
      [['FEED_STILL_UNREAD'], { remindAfter: 0 }, /remindAfter/],
      [['ACTION_LOGGED'], { filter: { verbs: [] } }, /filter\.verbs/],
    ];
    for (const [events, extra, message] of cases) {
      const result = await register('https://hooks.example.com/x', events, extra);
      expect(result.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message).toMatch(message);
    }
    const service = { token: t.serviceToken };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const ids: Array<[string, Record<string, unknown>, string]> = [
      [`mutation Retry($id: ID!) { retryWebhookDelivery(id: $id) { id } }`, { id: b64('Action:1') }, 'BAD_USER_INPUT'],
      [`mutation Retry($id: ID!) { retryWebhookDelivery(id: $id) { id } }`, { id: b64('WebhookDelivery:99999') }, 'NOT_FOUND'],
      [`mutation UpdateWebhook($id: ID!) { updateWebhook(id: $id, active: false) { id } }`, { id: 'nope' }, 'BAD_USER_INPUT'],
      [`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id: b64('Webhook:99999') }, 'NOT_FOUND'],
      // Webhook ids are 32-bit: one past them is not a webhook id at all (as for node(id:) and Tracker ids).
      [`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id: b64('Webhook:99999999999') }, 'BAD_USER_INPUT'],
      [DELIVERIES, { webhook: b64('Tracker:1') }, 'BAD_USER_INPUT'],
    ];
    for (const [query, variables, code] of ids) {
      const result = await t.gql(query, variables, service);
      expect(result.errors?.[0]?.extensions?.['code'], `${query} ${JSON.stringify(variables)}`).toBe(code);
    }
  });
});

describe('webhook access', () => {
  it('is service only', async () => {
    const created = await register('https://hooks.example.com/auth');
    const id = created.data!.registerWebhook.webhook.id as string;
    const user = await t.userToken('someone');
    const operations: Array<[string, Record<string, unknown>]> = [
      [REGISTER, { url: 'https://hooks.example.com/x', events: ['ACTION_LOGGED'] }],
      [`query Webhooks { webhooks { id url } }`, {}],
      [DELIVERIES, { webhook: id }],
      [`mutation UpdateWebhook($id: ID!) { updateWebhook(id: $id, active: false) { id } }`, { id }],
      [`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id }],
    ];
    for (const [query, variables] of operations) {
      const anonymous = await t.gql(query, variables);
      expect(anonymous.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
      const asUser = await t.gql(query, variables, { token: user });
      expect(asUser.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    }
    const node = await t.gql(`query Node($id: ID!) { node(id: $id) { id ... on Webhook { url } } }`, { id }, { token: user });
    expect(node.data?.node ?? null).toBeNull();
    // Still there, unchanged; the secret is never listed.
    const list = await t.ok(`query Webhooks { webhooks { id active } }`, {}, { token: t.serviceToken });
    expect(list.webhooks).toContainEqual({ id, active: true });
    await t.ok(`mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) }`, { id }, { token: t.serviceToken });
  });
});
