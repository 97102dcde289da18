/** The webhooks module's GraphQL types and fields, one file per concept. */
import './webhook.ts';
import './delivery.ts';
