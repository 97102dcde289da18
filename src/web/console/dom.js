// Small DOM helpers for the console (no framework).

/** h('tag.class#id', {attributes, on: {event: handler}}, ...children): an element. Strings become text. */
export function h(spec, attributes = {}, ...children) {
  const [, tag = 'div', rest = ''] = /^([\w-]+)?(.*)$/.exec(spec);
  const element = document.createElement(tag);
  for (const part of rest.match(/[.#][\w-]+/g) ?? []) {
    if (part[0] === '.') element.classList.add(part.slice(1));
    else element.id = part.slice(1);
  }
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (key in element && typeof value !== 'string') {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export const formatNumber = (value) => number.format(value);

export function formatTime(iso, timeZone) {
  return new Date(iso).toLocaleString(undefined, { timeZone, dateStyle: 'medium', timeStyle: 'short' });
}

/** "Type:id" of an object reference. */
export const objectKey = (object) => `${object.type}:${object.id}`;

/** Parses "Type:id" (the id may contain colons); null when malformed. */
export function parseObject(text) {
  const at = String(text).indexOf(':');
  if (at <= 0 || at === text.length - 1) return null;
  return { type: text.slice(0, at).trim(), id: text.slice(at + 1).trim() };
}

/** A labelled form field. */
export function field(label, control, hint) {
  return h('label.field', {}, h('span.label', {}, label), control, hint ? h('span.hint', {}, hint) : null);
}

/** A table with a caption, column headers and rows (arrays of cells); scrolls sideways on small screens. */
export function table(caption, headers, rows, { empty = 'Nothing to show.' } = {}) {
  if (rows.length === 0) return h('p.empty', {}, empty);
  return h(
    'div.table-wrap',
    { tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))),
    ),
  );
}

/** Form values as an object of strings (checkboxes: booleans). */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    values[element.name] = element.type === 'checkbox' ? element.checked : element.value.trim();
  }
  return values;
}

/** A `<select>` of options [{value, label}] with one selected. */
export function select(name, options, selected, attributes = {}) {
  return h(
    'select',
    { name, ...attributes },
    options.map((option) => h('option', { value: option.value, selected: option.value === selected }, option.label ?? option.value)),
  );
}

/** The browser's time zone, and a list for pickers. */
export const localTimeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
export const timeZones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC', localTimeZone];

/** A time zone input with suggestions. */
export function timeZoneInput(name, value) {
  const listId = 'time-zones';
  if (!document.getElementById(listId)) {
    document.body.append(h(`datalist#${listId}`, {}, ['UTC', ...timeZones].map((zone) => h('option', { value: zone }))));
  }
  return h('input', { name, value, list: listId, autocomplete: 'off', spellcheck: 'false' });
}

/** YYYY-MM-DD of an instant in a time zone. */
export function dayIn(ms, timeZone) {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

/**
 * The instant of local midnight + `hours` of a YYYY-MM-DD day in a time zone (for `day`/`from`/`to` arguments):
 * noon avoids DST gaps and is inside the day whatever the zone's offset.
 */
export function instantOfDay(day, timeZone, hours = 12) {
  const [y, m, d] = day.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d, hours);
  const offset = zoneOffsetMs(guess, timeZone);
  return new Date(guess - offset).toISOString();
}

function zoneOffsetMs(ms, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(ms)
      .map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return local - Math.floor(ms / 1000) * 1000;
}
