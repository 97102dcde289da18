import fc from 'fast-check';
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueId, type TestApp } from '../support/app.ts';
import { raw } from './support.ts';

/**
 * Fuzz of the schema edge. Operations are generated from the served schema (introspection): every argument
 * of every query and mutation field, and of the fields with arguments below them (Domain.metric,
 * Metric.series...), gets values built for its type and mixed with hostile ones (NUL characters, lone
 * surrogates, huge and fractional numbers, deep JSON, long strings, empty and oversized lists, ids past the
 * bigint range, unknown node types, unknown enum values and input fields). Each operation is sent over
 * HTTP as service, user or anonymous caller. Whatever the input:
 *  - the answer is never a 5xx, and no error is INTERNAL_SERVER_ERROR or UNAVAILABLE;
 *  - a mutation that is refused (its field null, with an error) changed nothing in the database.
 * Seeded (FUZZ_SEED), bounded in runs and time.
 */

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261124);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);
const TIME_LIMIT_MS = Number(process.env['FUZZ_TIME_MS'] ?? 45_000);

const b64 = (s: string) => Buffer.from(s).toString('base64');
const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { a: nested(depth - 1) });

let t: TestApp;
let schema: GraphQLSchema;
let userToken: string;
/** Values that exist in the database, so that generated operations also reach past lookups. */
const known = { domain: uniqueId('fz'), metric: 'c', action: '', cursor: '', user: uniqueId('fuzz-user') };

beforeAll(async () => {
  t = await startTestApp({ RETENTION_CRON: 'off', RATE_LIMIT_REQUESTS: '0' });
  const service = { token: t.serviceToken };
  await t.ok('mutation($d: ID!) { registerDomain(ref: $d, name: "Fuzz", openMetrics: true) { ref } }', { d: known.domain }, service);
  await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "c", name: "C", public: true) { ref } }', { d: known.domain }, service);
  await t.ok('mutation($d: ID!) { registerMetric(domain: $d, ref: "g", name: "G", kind: GAUGE) { ref } }', { d: known.domain }, service);
  await t.ok('mutation($i: TrackInput!) { track(input: $i) { id } }', { i: { objectType: 'Item', owner: known.user, actorOnly: false } }, service);
  const logged = await t.ok<{ logAction: { id: string } }>(
    'mutation($i: LogActionInput!) { logAction(input: $i) { id } }',
    { i: { actor: { type: 'Item', id: '1' }, verb: 'seeded' } },
    service,
  );
  known.action = logged.logAction.id;
  known.cursor = (await t.ok<{ feed: { edges: Array<{ cursor: string }> } }>('query($u: ID) { feed(user: $u) { edges { cursor } } }', { u: known.user }, service)).feed.edges[0]!.cursor;
  userToken = await t.userToken(known.user);
  const introspection = await t.ok<IntrospectionQuery>(getIntrospectionQuery());
  schema = buildClientSchema(introspection);
});
afterAll(async () => t?.stop());

// ------------------------------------------------------------------ values

const hostileStrings: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', 'a\u0000b', '\u0000', 'x\uD800', '\uDC00y', 'é😀', 'Robert"); drop table x;--', '%00', '\\u0000'),
  fc.constantFrom('9223372036854775808', '99999999999999999999', '-1', '0', '1e400'),
  fc.constantFrom(b64('Action:99999999999999999999'), b64('Action:9223372036854775808'), b64('Foo:1'), b64('Query:1'), b64('Tracker:99999999999'), 'not base64!!'),
  fc.constantFrom(Buffer.from('action:99999999999999999999').toString('base64url'), Buffer.from('action:-1').toString('base64url')),
  fc.constantFrom('0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '1970-01-01T00:00:00Z', '2026-02-30T00:00:00Z', 'yesterday'),
  fc.constantFrom('x'.repeat(257), 'y'.repeat(2001), 'z'.repeat(70_000)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);

function goodStrings(name: string): fc.Arbitrary<string> {
  const byName: Record<string, string[]> = {
    domain: [known.domain, 'labels'],
    metric: [known.metric, 'g'],
    ref: [known.domain, known.metric],
    user: [known.user],
    owner: [known.user],
    id: [known.action, '1'],
    actionIds: [known.action],
    after: [known.cursor],
    type: ['Item', 'User'],
    objectType: ['Item'],
    timezone: ['UTC', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Mars/Olympus'],
    labels: ['a|b:cat:dom-1', 'x::'],
    verb: ['seeded', 'commented'],
  };
  return fc.constantFrom(...(byName[name] ?? ['1', 'Item', known.domain]));
}

const hostileNumbers = fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e20, 1.5, -0.5, Number.MAX_VALUE, -Number.MAX_VALUE);

function scalarValue(typeName: string, argName: string): fc.Arbitrary<unknown> {
  switch (typeName) {
    case 'Int':
      return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -2, max: 120 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31), 1001, 100_000) }, { weight: 1, arbitrary: hostileNumbers });
    case 'Float':
      return fc.oneof({ weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 1e308, -1e308, 5e-324) }, { weight: 1, arbitrary: hostileNumbers });
    case 'Boolean':
      return fc.oneof({ weight: 20, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom('true', 1) });
    case 'DateTime':
      return fc.oneof(
        { weight: 2, arbitrary: fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()) },
        { weight: 3, arbitrary: fc.integer({ min: -86_400 * 30, max: 60 }).map((s) => new Date(Date.now() + s * 1000).toISOString()) },
        { weight: 1, arbitrary: hostileStrings.filter((v) => v.length < 100) },
      );
    case 'JSON':
      return fc.oneof(
        { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
        { weight: 1, arbitrary: fc.constantFrom(nested(40), nested(32), { 'k\u0000': 1 }, { k: 'v\uD800' }, ['x'.repeat(20_000)], [], {}) },
      );
    default: // String, ID and any other scalar
      return fc.oneof({ weight: 12, arbitrary: goodStrings(argName) }, { weight: 4, arbitrary: hostileStrings }, { weight: 1, arbitrary: fc.integer() });
  }
}

function valueFor(type: GraphQLInputType, name: string, depth = 0): fc.Arbitrary<unknown> {
  // Mostly values of the right type (so that operations reach the resolvers), sometimes not.
  if (isNonNullType(type)) return fc.oneof({ weight: 60, arbitrary: valueFor(type.ofType, name, depth) }, { weight: 1, arbitrary: fc.constant(null) });
  const nullable = (a: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });
  if (isListType(type)) {
    const item = valueFor(type.ofType as GraphQLInputType, name, depth + 1);
    return nullable(
      fc.oneof(
        { weight: 12, arbitrary: fc.array(item, { maxLength: 4 }) },
        { weight: 1, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: item.map((v) => Array.from({ length: 1001 }, () => v)) },
      ),
    );
  }
  if (isEnumType(type)) return nullable(fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...type.getValues().map((v) => v.name)) }, { weight: 1, arbitrary: fc.constant('NOT_A_VALUE') }));
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const record: Record<string, fc.Arbitrary<unknown>> = {};
    for (const field of fields) record[field.name] = valueFor(field.type, field.name, depth + 1);
    const required = fields.filter((f) => isNonNullType(f.type) && f.defaultValue === undefined).map((f) => f.name);
    const object = fc.record(record, { requiredKeys: required });
    return nullable(fc.oneof({ weight: 30, arbitrary: object }, { weight: 1, arbitrary: object.map((o) => ({ ...o, unknownField: 1 })) }));
  }
  if (isScalarType(type)) return nullable(scalarValue(type.name, name));
  return fc.constant(null);
}

// ------------------------------------------------------------------ operations

interface Operation {
  kind: 'query' | 'mutation';
  field: string;
  text: string;
  variables: Record<string, unknown>;
}

/** Leaf fields (without required arguments) of an object type, for a cheap selection. */
function leaves(type: GraphQLNamedType): string {
  if (isLeafType(type)) return '';
  if (!isObjectType(type) && !isInterfaceType(type)) return '{ __typename }';
  const names = Object.values(type.getFields())
    .filter((f) => isLeafType(getNamedType(f.type)) && f.args.every((a) => !isNonNullType(a.type)) && f.args.length === 0)
    .map((f) => f.name);
  return `{ __typename ${names.join(' ')} }`;
}

/** A field with generated arguments (as variables), and the fields with arguments of its type one level down. */
function fieldArbitrary(field: GraphQLField<unknown, unknown>, prefix: string, depth: number): fc.Arbitrary<{ text: string; variables: Record<string, unknown>; declarations: string[] }> {
  const args: readonly GraphQLArgument[] = field.args;
  const argValues = fc.tuple(...args.map((a) => fc.option(valueFor(a.type, a.name), { nil: undefined, freq: isNonNullType(a.type) ? 20 : 3 })));
  const named = getNamedType(field.type);
  const inner: GraphQLField<unknown, unknown>[] =
    depth < 2 && isObjectType(named) ? Object.values((named as GraphQLObjectType).getFields()).filter((f) => f.args.length > 0) : [];
  const innerArbs = inner.map((f, i) => fieldArbitrary(f, `${prefix}_${i}`, depth + 1));
  return fc.tuple(argValues, fc.tuple(...innerArbs), fc.subarray(inner.map((_, i) => i))).map(([values, innerValues, chosen]) => {
    const variables: Record<string, unknown> = {};
    const declarations: string[] = [];
    const passed: string[] = [];
    args.forEach((arg, i) => {
      const value = values[i];
      if (value === undefined) return;
      const variable = `${prefix}_${arg.name}`;
      declarations.push(`$${variable}: ${String(arg.type)}`);
      variables[variable] = value;
      passed.push(`${arg.name}: $${variable}`);
    });
    const nestedTexts: string[] = [];
    for (const i of chosen) {
      const sub = innerValues[i]!;
      Object.assign(variables, sub.variables);
      declarations.push(...sub.declarations);
      nestedTexts.push(sub.text);
    }
    const selection = leaves(named);
    const body = selection && nestedTexts.length ? selection.replace(/ }$/, ` ${nestedTexts.join(' ')} }`) : selection;
    return { text: `${field.name}${passed.length ? `(${passed.join(', ')})` : ''} ${body}`, variables, declarations };
  });
}

function operations(): fc.Arbitrary<Operation> {
  const roots: Array<['query' | 'mutation', GraphQLObjectType]> = [['query', schema.getQueryType()!], ['mutation', schema.getMutationType()!]];
  const all = roots.flatMap(([kind, type]) =>
    Object.values(type.getFields()).map((field) =>
      fieldArbitrary(field, 'v', 0).map(({ text, variables, declarations }) => ({
        kind,
        field: field.name,
        text: `${kind}${declarations.length ? `(${declarations.join(', ')})` : ''} { ${text} }`,
        variables,
      })),
    ),
  );
  return fc.oneof(...all);
}

// ------------------------------------------------------------------ state

let digestSql = '';

/** A digest of every table's rows (one statement): unchanged means nothing was stored. */
async function databaseDigest(): Promise<string> {
  const em = t.app.orm.em.fork();
  if (!digestSql) {
    const tables = await em.execute<Array<{ table_name: string }>>(
      `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'mikro_orm%' order by table_name`,
    );
    digestSql = tables
      .map(({ table_name }) => `select '${table_name}' as t, count(*) as n, md5(string_agg(x::text, ',' order by x::text)) as d from "${table_name}" x`)
      .join(' union all ');
  }
  const rows = await em.execute<Array<{ t: string; n: string | number; d: string | null }>>(digestSql);
  return rows.map((r) => `${r.t}:${r.n}:${r.d}`).join('|');
}

describe('schema edge fuzz', () => {
  it(`never answers 5xx or an internal/unavailable error, and refused mutations store nothing (seed ${SEED})`, async () => {
    const seen = { requests: 0, refusedMutations: 0, byCode: new Map<string, number>() };
    await fc.assert(
      fc.asyncProperty(operations(), fc.constantFrom('service', 'service', 'user', 'anonymous'), async (operation, caller) => {
        const before = operation.kind === 'mutation' ? await databaseDigest() : '';
        const token = caller === 'service' ? t.serviceToken : caller === 'user' ? userToken : undefined;
        const response = await raw(t, {
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query: operation.text, variables: operation.variables }),
        });
        seen.requests++;
        const context = `${caller} ${response.status} ${operation.text} ${JSON.stringify(operation.variables).slice(0, 2000)}\n${response.text.slice(0, 2000)}`;
        expect(response.status, context).toBeLessThan(500);
        const body = response.status === 413 ? { errors: [] } : (JSON.parse(response.text) as { data?: Record<string, unknown> | null; errors?: Array<{ extensions?: { code?: string } }> });
        for (const error of body.errors ?? []) {
          if (process.env['FUZZ_DEBUG']) console.log('ERR', (error as { message?: string }).message?.slice(0, 100));
          const code = error.extensions?.code ?? 'none';
          seen.byCode.set(code, (seen.byCode.get(code) ?? 0) + 1);
          expect(['INTERNAL_SERVER_ERROR', 'UNAVAILABLE'], context).not.toContain(code);
        }
        // Refused: the mutation field itself failed. An error below it (a sub-selection such as registerMetric's
        // series with a bad argument, after the mutation committed) nulls the field too, but is not a refusal.
        const ownError = (body.errors ?? []).some((e) => ((e as { path?: unknown[] }).path?.length ?? 0) <= 1);
        const refused = ownError && (body.data === undefined || body.data === null || body.data[operation.field] === null);
        if (operation.kind === 'mutation' && refused) {
          seen.refusedMutations++;
          expect(await databaseDigest(), `refused but stored: ${context}`).toBe(before);
        }
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, endOnFailure: true },
    );
    console.log(`fuzz: ${seen.requests} requests, ${seen.refusedMutations} refused mutations, codes ${JSON.stringify([...seen.byCode])}`);
    // The run did reach the server with many kinds of refusals, and the server still answers.
    expect(seen.requests).toBeGreaterThan(50);
    expect(seen.refusedMutations).toBeGreaterThan(10);
    expect(seen.byCode.get('BAD_USER_INPUT') ?? 0).toBeGreaterThan(10);
    expect(await t.ok('{ viewer { role } }', {}, { token: t.serviceToken })).toEqual({ viewer: { role: 'SERVICE' } });
  }, 120_000);
});
