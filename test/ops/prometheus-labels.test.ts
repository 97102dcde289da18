import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

/**
 * Prometheus labels take only bounded values: a client choosing ever-new operation names or aliases (which
 * become error paths) must not grow /metrics (each label combination is a series kept for the process's life).
 */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

const scrape = async () => (await fetch(`http://127.0.0.1:${t.port}/metrics`)).text();

describe('Prometheus labels', () => {
  it('never carry client-chosen operation names or error paths; /metrics does not grow with them', async () => {
    // Warm up every series an operation and an error can create.
    await t.gql('query Warm { __typename }');
    await t.gql('mutation WarmM { __typename }');
    await t.gql('{ warm: node(id: "garbage!!") { id } }', {}, { token: t.serviceToken });
    const before = (await scrape()).length;
    for (let i = 0; i < 200; i++) {
      await t.gql(`query Client${i}Name { __typename }`);
      await t.gql(`mutation M${i}x { __typename }`);
      await t.gql(`query E${i} { alias${i}: node(id: "garbage!!") { id } }`, {}, { token: t.serviceToken });
    }
    const after = await scrape();
    expect(after).not.toMatch(/Client\d+Name|M\d+x|E\d+"|alias\d+/);
    expect(after).toMatch(/graphql_envelop_phase_execute_count\{[^}]*operationType="mutation"/);
    expect(after).toMatch(/graphql_envelop_error_result\{[^}]*phase="execute"/);
    // Counters and histogram sums change their digits, nothing else.
    expect(after.length - before).toBeLessThan(2_000);
  });
});
