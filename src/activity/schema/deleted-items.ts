import { z } from 'zod';
import { boundedJsonSchema, checkJsonSize } from '../../objects/json-bounds.ts';
import type { ObjectRefValue } from '../../objects/object-ref.ts';
import { ObjectRef, ObjectRefInput, objectRefSchema } from '../../objects/schema.ts';
import { builder } from '../../schema/builder.ts';
import { MAX_DESCRIPTION_LENGTH } from './common.ts';

/** Deleted items: `forgetObject`. */

builder.mutationFields((t) => ({
  forgetObject: t.field({
    type: ObjectRef,
    description:
      'The object was deleted in your application: actions keep showing it as a tombstone (or, with `deleteActions`, are deleted); trackers on it are removed; forgetting a user (USER_TYPE) also removes its trackers, feed and unread count.',
    authScopes: { service: true },
    args: {
      object: t.arg({ type: ObjectRefInput, required: true, validate: objectRefSchema }),
      description: t.arg.string({
        required: false,
        description: 'Default: the object\'s label (given, or the latest the log knows), else "Type id".',
        validate: z.string().max(MAX_DESCRIPTION_LENGTH, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`),
      }),
      serialization: t.arg({
        type: 'JSON',
        required: false,
        validate: boundedJsonSchema,
        description: 'Default: {"type": …, "pk": …}.',
      }),
      deleteActions: t.arg.boolean({
        required: false,
        defaultValue: false,
        description: 'Delete the actions involving the object instead of keeping tombstones (erasure); feeds and counts follow.',
      }),
    },
    resolve: (_root, args, ctx) => {
      checkJsonSize(args.serialization, 'serialization', ctx.config.activityDataMaxBytes);
      return ctx.services.activity.forgetObject(ctx.em, {
        ref: args.object as ObjectRefValue,
        description: args.description ?? null,
        serialization: args.serialization ?? null,
        deleteActions: args.deleteActions ?? false,
      });
    },
  }),
}));
