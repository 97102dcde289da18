import fs from 'node:fs';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';

/** Every GraphQL example in the README must be valid against the served schema. */
const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README examples', () => {
  it('has GraphQL examples', () => {
    expect(blocks.length).toBeGreaterThan(5);
  });
  it.each(blocks.map((block, i) => [i, block] as const))('example %i is valid against schema.graphql', (_i, block) => {
    const errors = validate(schema, parse(block));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
