import { createContextCache } from '@pothos/core';
import { builder } from '../schema/builder.ts';
import type { Context } from '../server/context.ts';
import { objectRefSchema, type ObjectRefValue } from './object-ref.ts';
import { createTombstoneLoader, type Tombstone } from './tombstones.ts';

const tombstoneLoader = createContextCache((ctx: Context) => createTombstoneLoader(ctx.em));

/** The tombstone the ref carries when its producer knew it, otherwise a batched lookup. */
async function tombstoneOf(ref: ObjectRefValue, ctx: Context): Promise<Tombstone | null> {
  return ref.tombstone !== undefined ? ref.tombstone : tombstoneLoader(ctx).load(ref);
}

export const ObjectRefInput = builder
  .inputType('ObjectRefInput', {
    description: 'An object of your application: its type (e.g. "Article"), its id, and an optional display label.',
    fields: (t) => ({
      type: t.string({ required: true }),
      id: t.id({ required: true }),
      label: t.string({ required: false }),
    }),
  })
  .validate(objectRefSchema);

export const ObjectRef = builder.objectRef<ObjectRefValue>('ObjectRef').implement({
  description:
    'An object of your application. Once forgotten (`forgetObject`) it stays readable as a tombstone: `deleted` is true and `description` says what it was.',
  fields: (t) => ({
    type: t.exposeString('type'),
    id: t.exposeID('id'),
    label: t.string({
      nullable: true,
      resolve: async (ref, _args, ctx) => ref.label ?? (await tombstoneOf(ref, ctx))?.label ?? null,
    }),
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
