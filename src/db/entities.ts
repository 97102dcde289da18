import { activityEntities } from '../activity/entities.ts';
import { metricEntities } from '../metrics/entities.ts';
import { objectEntities } from '../objects/entities.ts';
import { webhookEntities } from '../webhooks/entities.ts';

/** Every entity of every module; the ORM and the migration generator both use this list. */
export const entities = [...objectEntities, ...activityEntities, ...metricEntities, ...webhookEntities];
