import { z } from 'zod';

/** A reference to an object of the client application (the seeds' generic foreign key). */
export interface ObjectRefValue {
  type: string;
  id: string;
  label?: string | null | undefined;
  /**
   * The object's tombstone when the producer already knows it (null: not forgotten), e.g. a feed event
   * computed once for all its subscribers; undefined: look it up (batched per request).
   */
  tombstone?: { label: string | null; description: string | null; serialization: unknown } | null | undefined;
}

export const OBJECT_TYPE_MAX = 128;
export const OBJECT_ID_MAX = 256;
export const OBJECT_LABEL_MAX = 256;

export const objectRefSchema = z.object({
  type: z
    .string()
    .min(1, 'must not be empty')
    .max(OBJECT_TYPE_MAX, `must be at most ${OBJECT_TYPE_MAX} characters`)
    .regex(/^[A-Za-z_][A-Za-z0-9_.:-]*$/, 'must start with a letter or _ and contain only letters, digits, _ . : -'),
  id: z.string().min(1, 'must not be empty').max(OBJECT_ID_MAX, `must be at most ${OBJECT_ID_MAX} characters`),
  label: z.string().max(OBJECT_LABEL_MAX, `must be at most ${OBJECT_LABEL_MAX} characters`).nullish(),
});

/** A stable string key for maps and loaders. */
export function objectKey(ref: Pick<ObjectRefValue, 'type' | 'id'>): string {
  return `${ref.type}\u0000${ref.id}`;
}

export function sameObject(a: Pick<ObjectRefValue, 'type' | 'id'>, b: Pick<ObjectRefValue, 'type' | 'id'>): boolean {
  return a.type === b.type && a.id === b.id;
}
