import { defineEntity, p } from '@mikro-orm/sql';

/**
 * A client-application object that was deleted on the client side (`forgetObject`). Actions that
 * mention it stay readable and show it as a tombstone with this description.
 */
export const ForgottenObjectSchema = defineEntity({
  name: 'ForgottenObject',
  tableName: 'forgotten_object',
  properties: {
    objectType: p.string().length(128).primary(),
    objectId: p.string().length(256).primary(),
    label: p.string().length(256).nullable(),
    description: p.text().nullable(),
    serialization: p.json<unknown>().nullable(),
    forgottenAt: p.datetime().defaultRaw('now()'),
  },
});

export class ForgottenObject extends ForgottenObjectSchema.class {}
ForgottenObjectSchema.setClass(ForgottenObject);


/**
 * The latest display label an authenticated caller gave an object (objects/labels.ts): metrics rows keep none,
 * so metrics results take their objects' labels from here.
 */
export const ObjectLabelSchema = defineEntity({
  name: 'ObjectLabel',
  tableName: 'object_label',
  properties: {
    objectType: p.string().length(128).primary(),
    objectId: p.string().length(256).primary(),
    label: p.string().length(256),
    updatedAt: p.datetime().defaultRaw('now()'),
  },
});

export class ObjectLabel extends ObjectLabelSchema.class {}
ObjectLabelSchema.setClass(ObjectLabel);

export const objectEntities = [ForgottenObjectSchema, ObjectLabelSchema];
