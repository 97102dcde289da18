import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import type { CodegenConfig } from '@graphql-codegen/cli';
import { Kind, parse, validate, type DocumentNode } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';

/**
 * Typed clients: every GraphQL operation of the README (```graphql blocks and the query strings of its JS/TS
 * examples) is named and unique, so GraphQL Code Generator's client preset takes them as they are; codegen runs
 * over them with the README's own codegen.ts configuration and the result type-checks with the scalar mappings.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const OUT = path.join(ROOT, 'test-results/codegen');

/** Operations of the README: whole ```graphql blocks, and operation strings inside ```js / ```ts blocks. */
function readmeOperations(): Array<{ where: string; source: string }> {
  const found: Array<{ where: string; source: string }> = [];
  for (const [i, m] of [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].entries()) found.push({ where: `graphql block ${i}`, source: m[1]! });
  for (const [i, m] of [...readme.matchAll(/```(?:js|ts)\n([\s\S]*?)```/g)].entries()) {
    for (const s of m[1]!.matchAll(/(['`])\s*((?:query|mutation|subscription)\b[^'`]*?)\1/g)) found.push({ where: `code block ${i}`, source: s[2]! });
  }
  return found;
}

/** The README's codegen.ts, evaluated: its `config` object. */
function readmeCodegenConfig(): CodegenConfig {
  const block = /```ts\n\/\/ codegen\.ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README has no ```ts block starting with // codegen.ts');
  const body = block
    .replace(/^import type .*$/m, '')
    .replace('const config: CodegenConfig =', 'return')
    .replace('export default config;', '');
  return new Function(body)() as CodegenConfig;
}

describe('README operations', () => {
  const operations = readmeOperations();
  const documents = operations.map((o) => ({ ...o, document: parse(o.source) }));

  it('are many, in GraphQL blocks and in code', () => {
    expect(documents.flatMap((d) => d.document.definitions).length).toBeGreaterThan(15);
    expect(operations.filter((o) => o.where.startsWith('code')).length).toBeGreaterThanOrEqual(3);
  });

  it('are all named, with unique names, and valid against the schema', () => {
    const names: string[] = [];
    for (const { where, document } of documents) {
      for (const definition of document.definitions) {
        expect(definition.kind, where).toBe(Kind.OPERATION_DEFINITION);
        if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
        expect(definition.name?.value, `${where}: an anonymous ${definition.operation}`).toBeTruthy();
        names.push(definition.name!.value);
      }
      expect(validate(schema, document).map((e) => `${where}: ${e.message}`)).toEqual([]);
    }
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  describe('through graphql-codegen (client preset, the README configuration)', () => {
    let generated: string;
    beforeAll(async () => {
      fs.rmSync(OUT, { recursive: true, force: true });
      fs.mkdirSync(path.join(OUT, 'operations'), { recursive: true });
      documents.forEach(({ source }, i) => fs.writeFileSync(path.join(OUT, 'operations', `op-${i}.graphql`), source));
      const config = readmeCodegenConfig();
      const [output] = Object.values(config.generates);
      await generate(
        {
          ...config,
          schema: path.join(ROOT, 'schema.graphql'),
          documents: [path.join(OUT, 'operations/*.graphql')],
          generates: { [`${path.join(OUT, 'gql')}/`]: output! },
          silent: true,
        },
        true,
      );
      generated = fs.readFileSync(path.join(OUT, 'gql/graphql.ts'), 'utf8');
    }, 60_000);

    it('generates a typed document and result type for every operation, with DateTime mapped to string', () => {
      for (const { document } of documents as Array<{ document: DocumentNode }>) {
        for (const definition of document.definitions) {
          if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
          const suffix = { query: 'Query', mutation: 'Mutation', subscription: 'Subscription' }[definition.operation];
          expect(generated).toContain(`export type ${definition.name!.value}${suffix} =`);
          expect(generated).toContain(`export const ${definition.name!.value}Document =`);
        }
      }
      // DateTime → string (the README's scalar mapping; codegen inlines scalars). No README operation reads a JSON field.
      expect(generated).toMatch(/timestamp: string/);
      expect(generated).not.toMatch(/: any\b/);
    });

    it('type-checks, and the results have the mapped types', () => {
      fs.writeFileSync(
        path.join(OUT, 'use.ts'),
        `import type { StatsQuery, MyFeedQuery, LiveSubscription } from './gql/graphql';
type Is<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
declare const stats: StatsQuery;
declare const feed: MyFeedQuery;
declare const live: LiveSubscription;
const seriesStart: Is<NonNullable<StatsQuery['domain']>['metric'] extends infer M ? (M extends { series: Array<{ start: infer S }> } ? S : never) : never, string> = true;
const total: number | undefined = stats.domain?.metric?.total;
const unread: number = feed.unreadCount;
const timestamp: string | undefined = feed.feed.edges[0]?.node.timestamp;
const kind: 'ADDED' | 'UPDATED' | 'READ' | 'UNREAD' | 'SEEN' | 'ARCHIVED' | 'UNARCHIVED' | 'REMOVED' | 'RESET' = live.feed.kind;
// @ts-expect-error a DateTime is a string, not a Date
const wrong: Date | undefined = feed.feed.edges[0]?.node.timestamp;
export { seriesStart, total, unread, timestamp, kind, wrong };
`,
      );
      fs.writeFileSync(
        path.join(OUT, 'tsconfig.json'),
        JSON.stringify({
          // What a front-end project (bundler) uses.
          compilerOptions: { strict: true, noEmit: true, module: 'ESNext', moduleResolution: 'Bundler', target: 'ES2022', skipLibCheck: true, types: [] },
          include: ['gql/**/*.ts', 'use.ts'],
        }),
      );
      const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
      let output = '';
      try {
        execFileSync(process.execPath, [tsc, '-p', OUT], { encoding: 'utf8', stdio: 'pipe' });
      } catch (error) {
        output = String((error as { stdout?: string }).stdout ?? error);
      }
      expect(output).toBe('');
    }, 60_000);
  });
});
