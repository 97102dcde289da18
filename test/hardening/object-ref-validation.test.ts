import fc from 'fast-check';
import { getNamedType, isInputObjectType, type GraphQLArgument, type GraphQLInputField } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isValidObjectRef, objectRefSchema } from '../../src/objects/object-ref.ts';
import { schema } from '../../src/schema/index.ts';

/**
 * ObjectRefInput is validated where it is used (src/objects/schema.ts): every argument and input field of that
 * type must declare a schema, except IncrementInput.object, which the increment resolver checks with the list.
 */
describe('ObjectRefInput validation', () => {
  it('every argument and input field of type ObjectRefInput has a validation schema (IncrementInput.object: the resolver)', () => {
    const uses: Array<{ where: string; validated: boolean }> = [];
    const validated = (field: GraphQLArgument | GraphQLInputField) => {
      const schemas = (field.extensions as { '@pothos/plugin-validation'?: { schemas?: unknown[] } })['@pothos/plugin-validation']?.schemas;
      return (schemas?.length ?? 0) > 0;
    };
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__')) continue;
      if (isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (getNamedType(field.type).name === 'ObjectRefInput') uses.push({ where: `${type.name}.${field.name}`, validated: validated(field) });
        }
      } else if ('getFields' in type) {
        for (const field of Object.values(type.getFields())) {
          for (const arg of 'args' in field ? field.args : []) {
            if (getNamedType(arg.type).name === 'ObjectRefInput') uses.push({ where: `${type.name}.${field.name}(${arg.name})`, validated: validated(arg) });
          }
        }
      }
    }
    expect(uses.length).toBeGreaterThan(10);
    expect(uses.filter((use) => !use.validated).map((use) => use.where)).toEqual(['IncrementInput.object']);
  });

  it('the pre-check of the increment resolver never accepts a ref the schema refuses', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:-]{0,140}$/),
      fc.constantFrom('', 'Item', '9lives', 'a b', 'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(257), 'Ä', 'a\n'),
    );
    fc.assert(
      fc.property(text, text, fc.option(text, { nil: undefined }), fc.boolean(), (type, id, label, nullLabel) => {
        const ref = { type, id, label: nullLabel ? null : label };
        if (isValidObjectRef(ref)) expect(objectRefSchema.safeParse(ref).success).toBe(true);
      }),
      { numRuns: 5000 },
    );
    // And it does accept the common refs (otherwise it would save nothing).
    expect(isValidObjectRef({ type: 'Page', id: 'p1' })).toBe(true);
    expect(isValidObjectRef({ type: 'app.Item', id: '1', label: 'An item' })).toBe(true);
  });
});
