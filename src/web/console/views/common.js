// Pieces shared by the console's views.
import { field, h, select } from '../dom.js';

const CATALOG_QUERY = 'query ConsoleMetricList { domains { ref name metrics { ref name kind public } } }';

/** Every metric as {domain, ref, name, kind, public, key}, for pickers. */
export async function metricList(api) {
  const { domains } = await api.request(CATALOG_QUERY);
  return domains.flatMap((d) => d.metrics.map((m) => ({ ...m, domain: d.ref, domainName: d.name, key: `${d.ref} ${m.ref}` })));
}

/** A metric picker (value "domain metric": refs contain no spaces). */
export function metricPicker(metrics, domain, ref, { counterOnly = false } = {}) {
  const options = metrics
    .filter((m) => !counterOnly || m.kind === 'COUNTER')
    .map((m) => ({ value: m.key, label: `${m.domain} / ${m.ref}${m.name !== m.ref ? ` — ${m.name}` : ''}${m.kind === 'GAUGE' ? ' (gauge)' : ''}` }));
  return field('Metric', select('metric', options, `${domain} ${ref}`, { required: true }));
}

export const PERIODS = ['HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'];

export function periodPicker(value, { lifetime = false } = {}) {
  const periods = lifetime ? [...PERIODS, 'LIFETIME'] : PERIODS;
  return field('Period', select('period', periods.map((p) => ({ value: p, label: p[0] + p.slice(1).toLowerCase() })), value));
}

/** The view's heading, focusable (the console moves focus to it on navigation). */
export function heading(text, intro) {
  return [h('h1', { tabindex: '-1' }, text), intro ? h('p.intro', {}, intro) : null];
}

/** A status line for a view: loading, error, or when it was last refreshed. */
export function statusLine() {
  const element = h('p.status-line', { role: 'status' });
  return {
    element,
    loading: () => {
      element.textContent = 'Loading…';
    },
    done: (live) => {
      element.textContent = `Updated ${new Date().toLocaleTimeString()}${live ? ' · refreshes every 5 s' : ''}`;
    },
    failed: (error) => {
      element.textContent = `Failed: ${error.message}`;
    },
  };
}

/** An object reference, as "Type id (label)", struck through when forgotten. */
export function objectLabel(object) {
  if (!object) return h('span.muted', {}, 'none');
  const text = `${object.type} ${object.id}${object.label ? ` (${object.label})` : ''}`;
  return object.deleted ? h('s', { title: object.description ?? 'forgotten' }, text) : text;
}

/** A button that needs a second press to act (for purges); returns the button. */
export function confirmButton(label, confirmLabel, action) {
  let armed = false;
  let timer = 0;
  const button = h('button.danger', { type: 'button' }, label);
  const disarm = () => {
    armed = false;
    clearTimeout(timer);
    button.textContent = typeof label === 'function' ? label() : label;
    button.classList.remove('armed');
  };
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      button.textContent = typeof confirmLabel === 'function' ? confirmLabel() : confirmLabel;
      button.classList.add('armed');
      timer = setTimeout(disarm, 5000);
      return;
    }
    disarm();
    await action();
  });
  button.addEventListener('blur', () => armed && disarm());
  return button;
}
