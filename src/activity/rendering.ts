import type { ObjectRefValue } from '../objects/object-ref.ts';
import type { ActionRecord } from './model.ts';

/**
 * Rendering an action as text (actrack's verb handlers' `render`): verb templates registered with
 * `registerVerb` (verbs.ts) are filled from the action.
 */

function objectText(ref: ObjectRefValue): string {
  return ref.label ?? `${ref.type} ${ref.id}`;
}

function listText(refs: ObjectRefValue[]): string {
  const parts = refs.map(objectText);
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * Renders a verb template. Placeholders: {actor}, {verb}, {targets}, {target} (the first), {related},
 * {count} (groupedCount), {data.KEY} (empty when missing). Objects render as their label, or "Type id"
 * without one. Unknown placeholders are left as written.
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
          const data = action.data && typeof action.data === 'object' ? (action.data as Record<string, unknown>) : {};
          const value = data[name.slice(5)];
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

const TIME_UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];
const relativeTime = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/** How long ago the action happened, in English ("3 minutes ago"; "in 2 days" for a future timestamp). */
export function timeInfo(timestamp: Date, now: Date = new Date()): string {
  const seconds = Math.round((timestamp.getTime() - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  for (const [unit, size] of TIME_UNITS) {
    if (abs >= size || unit === 'second') return relativeTime.format(Math.trunc(seconds / size), unit);
  }
  return relativeTime.format(0, 'second');
}
