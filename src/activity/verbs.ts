import type { Em } from '../db/orm.ts';
import { badInput } from '../server/errors.ts';
import type { Row } from './action-store.ts';
import { MAX_TEMPLATE_LENGTH, normaliseVerb, pgTextArray, type ActionRecord } from './model.ts';
import { renderAction } from './rendering.ts';

/** Verb templates (actrack's verb handlers): registered per verb, rendered into `Action.text`. */

export interface VerbTemplate {
  verb: string;
  template: string;
}

export async function registerVerb(em: Em, verb: string, template: string): Promise<VerbTemplate> {
  const v = normaliseVerb(verb);
  if (template.trim() === '') throw badInput('template: must not be empty');
  if (template.length > MAX_TEMPLATE_LENGTH) throw badInput(`template: at most ${MAX_TEMPLATE_LENGTH} characters`);
  await em.execute(
    `insert into activity_verb (verb, template, updated_at) values (?, ?, now())
     on conflict (verb) do update set template = excluded.template, updated_at = now()`,
    [v, template],
  );
  return { verb: v, template };
}

/** The registered templates of these verbs (verbs without one are absent from the map). */
export async function templatesOf(em: Em, verbs: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(verbs)];
  if (unique.length === 0) return new Map();
  const rows = await em.execute<Row[]>(`select verb, template from activity_verb where verb = any(?::text[])`, [
    pgTextArray(unique),
  ]);
  return new Map(rows.map((r) => [String(r['verb']), String(r['template'])]));
}

/** The text of each action (its verb's template, else actrack's default text), keyed by action id. */
export async function renderActions(em: Em, actions: readonly ActionRecord[]): Promise<Map<string, string>> {
  const templates = await templatesOf(
    em,
    actions.map((a) => a.verb),
  );
  return new Map(
    actions.map((a) => {
      return [a.id, renderAction(templates.get(a.verb), a)];
    }),
  );
}
