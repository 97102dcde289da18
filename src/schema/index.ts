import { builder } from './builder.ts';
import '../objects/schema.ts';
import '../activity/schema/index.ts';
import '../metrics/schema.ts';
import '../ops/schema.ts';
import '../webhooks/schema/index.ts';
import './system.ts';

/** The assembled schema: each module registers its types on the builder when imported above. */
export const schema = builder.toSchema({ sortSchema: true });
