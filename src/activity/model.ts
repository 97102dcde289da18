import type { ActivityLevelName, Config } from '../config.ts';
import { parseBigintId } from '../db/bigint-id.ts';
import type { ObjectRefValue } from '../objects/object-ref.ts';
import { badInput } from '../server/errors.ts';

/** actrack's levels. Stored as smallint; actions below the readable level are never unread. */
export const LEVELS: Record<ActivityLevelName, number> = {
  NULL: 0,
  DEBUG: 10,
  HIDDEN: 20,
  INFO: 30,
  WARNING: 40,
  ERROR: 50,
};

export const MAX_VERB_LENGTH = 128;
export const MAX_OBJECTS_PER_LIST = 100;
/** A grouped action stops collecting new objects of one role beyond this many (it still counts). */
export const MAX_MERGED_OBJECTS_PER_ROLE = 1000;
export const MAX_TEMPLATE_LENGTH = 2000;
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_IDS_PER_MARK = 1000;
/** At most this many actions in one `logActions` call. */
export const MAX_ACTIONS_PER_CALL = 100;
export const STARTED_TRACKING = 'started tracking';
export const STOPPED_TRACKING = 'stopped tracking';

/** An action as the GraphQL layer sees it; `unread` and `trackerIds` are for the user whose feed it is read from. */
export interface ActionRecord {
  id: string;
  actor: ObjectRefValue;
  verb: string;
  targets: ObjectRefValue[];
  related: ObjectRefValue[];
  data: unknown;
  level: number;
  timestamp: Date;
  groupedCount: number;
  unread: boolean;
  /** Not yet seen by the viewer (implies unread). */
  unseen: boolean;
  trackerIds: number[];
  /** Pre-rendered text (subscription events); undefined means "render on demand". */
  text?: string | null;
}

export interface TrackerRecord {
  id: number;
  ownerId: string;
  objectType: string;
  /** null for a tracker on the whole type. */
  objectId: string | null;
  objectLabel: string | null;
  verbs: string[] | null;
  actorOnly: boolean;
  /** A mute (negative tracker): the actions it matches never enter the owner's feed (mutes.ts). */
  mute: boolean;
  createdAt: Date;
}

export function levelName(level: number): ActivityLevelName {
  let best: ActivityLevelName = 'NULL';
  for (const [name, value] of Object.entries(LEVELS) as [ActivityLevelName, number][]) {
    if (value <= level) best = name;
  }
  return best;
}

/** A verb as given by the caller: trimmed, non-empty, bounded. */
export function normaliseVerb(verb: string, field = 'verb'): string {
  const trimmed = verb.trim();
  if (trimmed === '') throw badInput(`${field}: must not be empty`);
  if (trimmed.length > MAX_VERB_LENGTH) throw badInput(`${field}: must be at most ${MAX_VERB_LENGTH} characters`);
  return trimmed;
}

export function normaliseVerbs(verbs: readonly string[] | null | undefined, field = 'verbs'): string[] | null {
  if (verbs === null || verbs === undefined) return null;
  const out = [...new Set(verbs.map((v) => normaliseVerb(v, field)))];
  if (out.length === 0) throw badInput(`${field}: must not be an empty list (omit it for every verb)`);
  return out;
}

/** Postgres array literal for a `?::text[]` parameter (the driver inlines parameters). */
export function pgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

export function pgBigintArray(values: readonly string[]): string {
  for (const v of values) if (parseBigintId(v) === null) throw new Error(`not a bigint: ${v}`);
  return `{${values.join(',')}}`;
}

/** What every activity concept needs from the configuration, resolved once. */
export interface ActivitySettings {
  config: Config;
  /** Actions at or above this level enter feeds unread; below it they are never unread. */
  readableLevel: number;
  /** Level of an action logged without one. */
  defaultLevel: number;
  /** Actions at or above this level enter feeds whatever the user's mutes. */
  unmutableLevel: number;
}

export function activitySettings(config: Config): ActivitySettings {
  return {
    config,
    readableLevel: LEVELS[config.activityReadableLevel],
    defaultLevel: LEVELS[config.activityDefaultLevel],
    unmutableLevel: LEVELS[config.activityUnmutableLevel],
  };
}
