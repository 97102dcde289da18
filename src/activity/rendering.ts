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
