import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { ActionRecord } from './model.ts';

/**
 * Rendering an action as text (actrack's verb handlers' `render`): verb templates registered with
 * `registerVerb` (verbs.ts) are filled from the action.
 */

/**
 * An object's text: a forgotten object's description (actrack swaps a deleted object for a `DeletedItem`, whose
 * text is its description), else its label, else "Type id". Forgotten is known from `ref.tombstone`: the caller
 * looks tombstones up before rendering (undefined is taken as not forgotten).
 */
function objectText(ref: ObjectRefValue): string {
  return ref.tombstone?.description ?? ref.label ?? `${ref.type} ${ref.id}`;
}

/**
 * A list of objects as actrack's `str_enum`: up to three named ("a", "a and b", "a, b and c"); from four on, the
 * first two and how many others ("a, b and 3 others").
 */
function listText(refs: ObjectRefValue[]): string {
  const parts = refs.map(objectText);
  if (parts.length >= 4) return `${parts[0]}, ${parts[1]} and ${parts.length - 2} others`;
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * Renders a verb template. Placeholders: {actor}, {verb}, {targets}, {target} (the first), {related},
 * {count} (groupedCount), {data.KEY} (empty when missing). Objects render as `objectText` says. Unknown
 * placeholders are left as written.
 */
export function renderTemplate(
  template: string,
  action: Pick<ActionRecord, 'actor' | 'verb' | 'targets' | 'related' | 'groupedCount' | 'data'>,
): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_.]*)\}/g, (whole, name: string) => {
    switch (name) {
      case 'actor':
        return objectText(action.actor);
      case 'verb':
        return action.verb;
      case 'targets':
        return listText(action.targets);
      case 'target':
        return action.targets[0] ? objectText(action.targets[0]) : '';
      case 'related':
        return listText(action.related);
      case 'count':
        return String(action.groupedCount);
      default: {
        if (name.startsWith('data.')) {
          const data = action.data && typeof action.data === 'object' && !Array.isArray(action.data) ? (action.data as Record<string, unknown>) : {};
          const key = name.slice(5);
          // Only the data's own keys: `{data.toString}` or `{data.constructor}` are missing keys, not Object members.
          const value = Object.hasOwn(data, key) ? data[key] : undefined;
          if (value === undefined || value === null) return '';
          return typeof value === 'object' ? JSON.stringify(value) : String(value);
        }
        return whole;
      }
    }
  });
}

/**
 * The text of a verb without a registered template: actrack's default handler text, "{actor} {verb}
 * {targets}", plus " in relation to {related}" when the action has related objects.
 */
export function defaultText(action: Pick<ActionRecord, 'actor' | 'verb' | 'targets' | 'related'>): string {
  const head = [objectText(action.actor), action.verb, listText(action.targets)].filter((part) => part !== '').join(' ');
  return action.related.length > 0 ? `${head} in relation to ${listText(action.related)}` : head;
}

/** The action's text: its verb's template when one is registered (`template`), else actrack's default text. */
export function renderAction(
  template: string | null | undefined,
  action: Pick<ActionRecord, 'actor' | 'verb' | 'targets' | 'related' | 'groupedCount' | 'data'>,
): string {
  return template === null || template === undefined ? defaultText(action) : renderTemplate(template, action);
}

/**
 * Django's `timesince` units (actrack's timeinfo is `timesince(timestamp) + " ago"`): fixed lengths, a year of
 * 365 days and a month of 30, as Django computes them after taking out the leap days in between.
 */
const TIMESINCE_CHUNKS: Array<[seconds: number, singular: string, plural: string]> = [
  [365 * 86_400, 'year', 'years'],
  [30 * 86_400, 'month', 'months'],
  [7 * 86_400, 'week', 'weeks'],
  [86_400, 'day', 'days'],
  [3_600, 'hour', 'hours'],
  [60, 'minute', 'minutes'],
];

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
/** Python's calendar.leapdays(y1, y2): the leap years in [y1, y2). */
const leapYearsBetween = (y1: number, y2: number) => {
  const before = (y: number) => Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400);
  return before(y2 - 1) - before(y1 - 1);
};

/** "3\u00a0minutes": a count and its unit joined by a no-break space, as Django's `avoid_wrapping`. */
const unitText = (count: number, singular: string, plural: string) => `${count}\u00a0${count === 1 ? singular : plural}`;

/**
 * How long ago the action happened, exactly as actrack's `timeinfo` (Django's `timesince` + " ago"): the largest
 * unit with a count, plus the next smaller unit when its count is not zero ("1\u00a0hour, 5\u00a0minutes ago";
 * "3\u00a0days ago" for three days and five minutes); under a minute, and for a timestamp in the future,
 * "0\u00a0minutes ago". Counts and units are joined by a no-break space, as Django does.
 */
export function timeInfo(timestamp: Date, now: Date = new Date()): string {
  // Django subtracts the leap days between the two years (less the one of a leap start or end year), so that
  // "1 year" is the same calendar date a year later.
  let leapDays = leapYearsBetween(timestamp.getUTCFullYear(), now.getUTCFullYear());
  if (leapDays !== 0) {
    if (isLeap(timestamp.getUTCFullYear())) leapDays -= 1;
    else if (isLeap(now.getUTCFullYear())) leapDays += 1;
  }
  const since = Math.floor((now.getTime() - timestamp.getTime()) / 1000) - leapDays * 86_400;
  if (since <= 0) return `${unitText(0, 'minute', 'minutes')} ago`;
  let i = 0;
  let count = 0;
  for (; i < TIMESINCE_CHUNKS.length; i++) {
    count = Math.floor(since / TIMESINCE_CHUNKS[i]![0]);
    if (count !== 0) break;
  }
  if (i === TIMESINCE_CHUNKS.length) return `${unitText(0, 'minute', 'minutes')} ago`;
  const [seconds, singular, plural] = TIMESINCE_CHUNKS[i]!;
  let text = unitText(count, singular, plural);
  const next = TIMESINCE_CHUNKS[i + 1];
  if (next) {
    const count2 = Math.floor((since - seconds * count) / next[0]);
    if (count2 !== 0) text += `, ${unitText(count2, next[1], next[2])}`;
  }
  return `${text} ago`;
}
