/**
 * A plain, slow reference for calendar periods, written from the definitions rather than from the server's
 * code: local wall-clock fields come from Intl's formatToParts, and period starts are found by walking in
 * 15-minute steps (every UTC offset in use since 1980 is a multiple of 15 minutes, so every period
 * boundary of a recent instant is on a 15-minute UTC mark).
 *
 * - DAY / WEEK (from Monday) / MONTH / YEAR: an instant's period is labelled by its local date truncated to
 *   the period; the period starts at the first instant that carries that label.
 * - HOUR: a new hour starts at every local whole hour and at every change of UTC offset.
 */

export type RefPeriod = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH' | 'YEAR';

const Q = 15 * 60_000;
const formats = new Map<string, Intl.DateTimeFormat>();

interface Local {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** UTC offset in minutes. */
  offset: number;
}

const locals = new Map<string, Local>();

export function local(zone: string, ms: number): Local {
  const key = `${zone}@${ms}`;
  const cached = locals.get(key);
  if (cached) return cached;
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(ms)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts['year']!, parts['month']! - 1, parts['day']!, parts['hour']!, parts['minute']!, parts['second']!);
  const result: Local = {
    year: parts['year']!,
    month: parts['month']!,
    day: parts['day']!,
    hour: parts['hour']!,
    minute: parts['minute']!,
    offset: Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000),
  };
  if (locals.size > 200_000) locals.clear();
  locals.set(key, result);
  return result;
}

const floorQ = (ms: number) => Math.floor(ms / Q) * Q;

/** The label of the DAY/WEEK/MONTH/YEAR period of an instant: its first local date, YYYY-MM-DD. */
export function label(zone: string, period: Exclude<RefPeriod, 'HOUR'>, ms: number): string {
  const l = local(zone, ms);
  const date = new Date(Date.UTC(l.year, l.month - 1, l.day));
  if (period === 'WEEK') date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  if (period === 'MONTH') date.setUTCDate(1);
  if (period === 'YEAR') date.setUTCMonth(0, 1);
  return date.toISOString().slice(0, 10);
}

function isHourStart(zone: string, q: number): boolean {
  return local(zone, q).minute === 0 || local(zone, q).offset !== local(zone, q - Q).offset;
}

/** First instant of the period labelled `name` (a local date), searched around its wall-clock time. */
export function startOfLabel(zone: string, period: Exclude<RefPeriod, 'HOUR'>, name: string): number {
  const wall = Date.parse(`${name}T00:00:00Z`);
  for (let q = floorQ(wall - 16 * 3_600_000); q < wall + 16 * 3_600_000; q += Q) {
    if (label(zone, period, q) === name) return q;
  }
  throw new Error(`no instant of ${period} ${name} in ${zone}`);
}

/** Start of the period containing `ms`. */
export function refPeriodStart(zone: string, period: RefPeriod, ms: number): number {
  if (period === 'HOUR') {
    let q = floorQ(ms);
    while (!isHourStart(zone, q)) q -= Q;
    return q;
  }
  return startOfLabel(zone, period, label(zone, period, ms));
}

/** Start of the next period after the one starting at `start`. */
export function refNextStart(zone: string, period: RefPeriod, start: number): number {
  if (period === 'HOUR') {
    let q = start + Q;
    while (!isHourStart(zone, q)) q += Q;
    return q;
  }
  const name = label(zone, period, start);
  const d = new Date(`${name}T00:00:00Z`);
  if (period === 'DAY') d.setUTCDate(d.getUTCDate() + 1);
  if (period === 'WEEK') d.setUTCDate(d.getUTCDate() + 7);
  if (period === 'MONTH') d.setUTCMonth(d.getUTCMonth() + 1);
  if (period === 'YEAR') d.setUTCFullYear(d.getUTCFullYear() + 1);
  return startOfLabel(zone, period, d.toISOString().slice(0, 10));
}

/** Local date YYYY-MM-DD of an instant. */
export function refLocalDate(zone: string, ms: number): string {
  return label(zone, 'DAY', ms);
}
