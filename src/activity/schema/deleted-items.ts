import { z } from 'zod';
import { boundedJsonSchema, checkJsonSize } from '../../objects/json-bounds.ts';
import type { ObjectRefValue } from '../../objects/object-ref.ts';
import { ObjectRef, ObjectRefInput } from '../../objects/schema.ts';
import { builder } from '../../schema/builder.ts';
import { MAX_DESCRIPTION_LENGTH } from './common.ts';

/** Deleted items: `forgetObject`. */

builder.mutationFields((t) => ({
  forgetObject: t.field({
    type: ObjectRef,
    description: 'The object was deleted in your application: actions keep showing it as a tombstone; trackers on it are removed.',
    authScopes: { service: true },
    args: {
      object: t.arg({ type: ObjectRefInput, required: true }),
      description: t.arg.string({
        required: false,
        validate: z.string().max(MAX_DESCRIPTION_LENGTH, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`),
      }),
      serialization: t.arg({ type: 'JSON', required: false, validate: boundedJsonSchema }),
    },
    resolve: (_root, args, ctx) => {
      checkJsonSize(args.serialization, 'serialization', ctx.config.activityDataMaxBytes);
      return ctx.services.activity.forgetObject(ctx.em, args.object as ObjectRefValue, args.description ?? null, args.serialization ?? null);
    },
  }),
}));
