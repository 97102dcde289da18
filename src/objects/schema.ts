import { createContextCache } from '@pothos/core';
import { z } from 'zod';
import { builder } from '../schema/builder.ts';
import type { Context } from '../server/context.ts';
import { objectRefSchema, type ObjectRefValue } from './object-ref.ts';
import { createTombstoneLoader, type Tombstone } from './tombstones.ts';

const tombstoneLoader = createContextCache((ctx: Context) => createTombstoneLoader(ctx.em));

/** The tombstone the ref carries when its producer knew it, otherwise a batched lookup (one query per request). */
export async function tombstoneOf(ref: ObjectRefValue, ctx: Context): Promise<Tombstone | null> {
  return ref.tombstone !== undefined ? ref.tombstone : tombstoneLoader(ctx).load(ref);
}

/**
 * Validated where it is used, not by the type: every argument or input field of this type declares
 * `validate: objectRefSchema` (lists: `objectRefListSchema`), except `IncrementInput.object`, which the
 * `increment` resolver checks over the whole list of events (metrics/schema.ts `checkIncrementInputs`). A
 * type-level schema would make the validation plugin copy every IncrementInput of a 1,000-event batch to
 * validate its object. test/hardening/object-ref-validation.test.ts checks that no use goes unvalidated.
 */
export const ObjectRefInput = builder.inputType('ObjectRefInput', {
  description: 'An object of your application: its type (e.g. "Article"), its id, and an optional display label.',
  fields: (t) => ({
    type: t.string({ required: true }),
    id: t.id({ required: true }),
    label: t.string({ required: false }),
  }),
});

export { objectRefSchema };
export const objectRefListSchema = z.array(objectRefSchema);

export const ObjectRef = builder.objectRef<ObjectRefValue>('ObjectRef').implement({
  description:
    'An object of your application. Once forgotten (`forgetObject`) it stays readable as a tombstone: `deleted` is true and `description` says what it was.',
  fields: (t) => ({
    type: t.exposeString('type'),
    id: t.exposeID('id'),
    // The label its reader was given (a metric's kept label, an action's logged one); a forgotten object's kept
    // label is gone (forgetObject) and not brought back from its tombstone: `description` says what it was.
    label: t.string({ nullable: true, resolve: (ref) => ref.label ?? null }),
    deleted: t.boolean({ resolve: async (ref, _args, ctx) => (await tombstoneOf(ref, ctx)) !== null }),
    description: t.string({
      nullable: true,
      resolve: async (ref, _args, ctx) => (await tombstoneOf(ref, ctx))?.description ?? null,
    }),
    serialization: t.field({
      type: 'JSON',
      nullable: true,
      resolve: async (ref, _args, ctx) => (await tombstoneOf(ref, ctx))?.serialization ?? null,
    }),
  }),
});
