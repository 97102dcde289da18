import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { useInputGuard } from '../../src/server/input-guard.ts';

/** The input guard's walk of variables, called as Yoga calls it (onExecute), at depths past its recursive pass. */
function guard(variableValues: unknown): string | null {
  const plugin = useInputGuard() as unknown as { onExecute(input: unknown): void };
  let message: string | null = null;
  plugin.onExecute({
    args: { document: parse('mutation($v: JSON) { forgetObject(object: {type: "T", id: "1"}, serialization: $v) { deleted } }'), variableValues },
    setResultAndStopExecution: (result: { errors: Array<{ message: string }> }) => {
      message = result.errors[0]!.message;
    },
  });
  return message;
}

const nest = (depth: number, leaf: unknown): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
};

describe('input guard walk', () => {
  it('passes clean values of any depth (100,000 levels: no stack overflow)', () => {
    expect(guard({ v: nest(100_000, 'fine') })).toBeNull();
    expect(guard({ v: Array.from({ length: 1000 }, (_, i) => ({ domain: 'd', object: { type: 'T', id: String(i) } })) })).toBeNull();
  });

  it('names a bad string or key deeper than the recursive pass goes', () => {
    const path = `forgetObject.serialization${'.0.a'.repeat(40)}`;
    expect(guard({ v: nest(80, 'a\u0000b') })).toBe(`${path}: must not contain the NUL character (U+0000)`);
    expect(guard({ v: nest(80, { ['k\uD800']: 1 }) })).toBe(`${path}.k\uFFFD: keys must be well-formed Unicode (it contains a lone UTF-16 surrogate)`);
  });

  it('names the first problem in walk order: a bad key of an object before the values inside it, earlier items first', () => {
    expect(guard({ v: [{ ok: 'x' }, { a: 'bad\u0000' }, 'bad\uDC00'] })).toMatch(/^forgetObject\.serialization\.1\.a: must not contain the NUL/);
    expect(guard({ v: { x: { y: 'bad\u0000' }, ['z\u0000']: 1 } })).toMatch(/^forgetObject\.serialization\.z\uFFFD: keys must not contain/);
  });
});
