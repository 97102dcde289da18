import { LRUCache } from 'lru-cache';
import { badInput } from '../server/errors.ts';

/**
 * Calendar periods in IANA time zones, computed from the runtime's time-zone data (Intl, ICU): the one place
 * where trackql turns instants into local hours, days, weeks (ISO, from Monday), months and years. Every
 * reader of statistics (series, top, labelStats, recorded statistics) and the retention job use it, so
 * that all of them agree with each other and with what a client computes with Intl.
 *
 * A period starts at the first instant at which the local clock reaches the period's first wall-clock
 * time (a day that has no local midnight starts when its clock jumps past it); every instant belongs to
 * the period with the latest start at or before it. HOUR periods start at every local whole hour and at
 * every change of UTC offset, so the two 02:00 hours of a fall-back night stay apart and a 30-minute DST
 * shift (Australia/Lord_Howe) makes a 30-minute hour that starts at its minute 30.
 *
 * To stay cheap (about one offset lookup per point), an unchanged UTC offset at two instants up to 26 hours
 * apart (7 days when listing days) is taken to mean no change between them, i.e. an offset change is assumed
 * never to be undone within a week (the property tests check every zone over recent years against a plain
 * 15-minute scan).
 *
 * Intl is used instead of the database's time-zone functions because the database's zone data may be
 * older or newer than the runtime's, and clients compute with Intl; no package computes UTC offsets
 * faster than a cached Intl formatter (about 3 µs per offset here).
 */

export type CalendarPeriod = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH' | 'YEAR';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/**
 * Every UTC offset in the time-zone data lies within [-16 h, +16 h]: today's within [-12 h, +14 h], but local mean
 * times go further (Asia/Manila -15:56:08 until 1844, when the Philippines moved to the Asian side of the date
 * line; America/Sitka and America/Juneau +15:02:19 until Alaska's purchase in 1867).
 */
const MAX_WEST = 16 * HOUR;
const MAX_EAST = 16 * HOUR;

const OFFSET_PATTERN = /GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

const floorMod = (a: number, b: number) => ((a % b) + b) % b;

/** An IANA time zone, by its canonical name. */
export class TimeZone {
  readonly name: string;
  readonly #offsets: Intl.DateTimeFormat;

  constructor(name: string) {
    // Only the year and the offset: the cheapest format that carries the offset.
    this.#offsets = new Intl.DateTimeFormat('en-US', { timeZone: name, year: 'numeric', timeZoneName: 'longOffset' });
    this.name = this.#offsets.resolvedOptions().timeZone;
  }

  /** UTC offset at instant `ms`, in milliseconds (local wall clock = ms + offset). */
  offset(ms: number): number {
    const match = OFFSET_PATTERN.exec(this.#offsets.format(ms));
    if (!match?.[1]) return 0;
    const size = Number(match[2]) * HOUR + Number(match[3]) * MINUTE + Number(match[4] ?? 0) * 1000;
    return match[1] === '-' ? -size : size;
  }

  /** The local wall clock at `ms`, as milliseconds of a UTC date with the same fields. */
  wall(ms: number): number {
    return ms + this.offset(ms);
  }

  /** The local calendar date of `ms` as YYYY-MM-DD. */
  localDate(ms: number): string {
    return isoDate(this.wall(ms));
  }

  /** The first instant of local date `date` (YYYY-MM-DD). */
  startOfDate(date: string): number {
    const wall = Date.parse(`${date}T00:00:00Z`);
    return this.#firstAtOrAfter(wall, this.offset(wall));
  }

  /** Start of the period containing instant `ms`. */
  periodStart(period: CalendarPeriod, ms: number): number {
    const offset = this.offset(ms);
    const wall = ms + offset;
    if (period === 'HOUR') {
      const hour = ms - floorMod(wall, HOUR);
      // An offset change inside the hour starts a new one.
      return this.offset(hour) === offset ? hour : this.#firstChange(hour, ms);
    }
    return this.#firstAtOrAfter(periodWall(period, wall), offset);
  }

  /** Start of the period after the one that starts at `start`. */
  nextStart(period: CalendarPeriod, start: number): number {
    const offset = this.offset(start);
    const wall = start + offset;
    if (period === 'HOUR') {
      const next = start + HOUR - floorMod(wall, HOUR);
      return this.offset(next) === offset ? next : this.#firstChange(start, next);
    }
    return this.#firstAtOrAfter(nextWall(period, periodWall(period, wall)), offset, start);
  }

  /** End of the period containing `ms` (the next one's start). */
  periodEnd(period: CalendarPeriod, ms: number): number {
    return this.nextStart(period, this.periodStart(period, ms));
  }

  /**
   * Starts of the periods from the one containing `from` to the one containing `to`, followed by the end of
   * the last one (n points: n + 1 instants). Null when there would be more than `maxPoints` points.
   */
  boundaries(period: CalendarPeriod, from: number, to: number, maxPoints: number): number[] | null {
    const bounds = [this.periodStart(period, from)];
    for (;;) {
      const start = bounds[bounds.length - 1]!;
      let next = this.nextStart(period, start);
      // Fast path for the many-point periods: while the offset stays the same (checked over a day for
      // hours, over a week and the day before for days), the next starts are wall-clock arithmetic.
      if (period === 'HOUR' || period === 'DAY') {
        const span = period === 'HOUR' ? DAY : 7 * DAY;
        const offset = this.offset(start);
        if (this.offset(start + span) === offset && (period === 'HOUR' || this.offset(start - 26 * HOUR) === offset)) {
          while (next <= to && next <= start + span && bounds.length <= maxPoints) {
            bounds.push(next);
            const wall = next + offset;
            next = period === 'HOUR' ? next + HOUR - floorMod(wall, HOUR) : nextWall('DAY', periodWall('DAY', wall)) - offset;
          }
          if (next > start + span) next = this.nextStart(period, bounds[bounds.length - 1]!);
        }
      }
      bounds.push(next);
      if (next > to) return bounds.length - 1 > maxPoints ? null : bounds;
      if (bounds.length > maxPoints) return null;
    }
  }

  /** The first instant after `lo` (exclusive) up to `hi` whose offset differs from the offset at `lo`. */
  #firstChange(lo: number, hi: number): number {
    const before = this.offset(lo);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.offset(mid) === before) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  /**
   * The earliest instant whose local wall clock is at or after `wall`, given the offset probably in force
   * (`hint`). When the clock reads `wall` with that offset and the offset did not change during the day
   * before, that instant is the answer; otherwise (near a DST change, a skipped or repeated midnight) the
   * day around it is searched.
   */
  #firstAtOrAfter(wall: number, hint: number, knownSince?: number): number {
    const candidate = wall - hint;
    if (this.offset(candidate) === hint) {
      const dayBefore = candidate - 26 * HOUR;
      if ((knownSince !== undefined && knownSince >= dayBefore) || this.offset(dayBefore) === hint) return candidate;
    }
    // local(lo) <= wall - 1 h and local(hi) >= wall + 1 h whatever the offsets.
    let lo = wall - MAX_EAST - HOUR;
    const hi = wall + MAX_WEST + HOUR;
    let step = 15 * MINUTE;
    for (let x = lo + step; x <= hi; x += step) {
      if (this.wall(x) >= wall) break;
      lo = x;
    }
    step = MINUTE;
    for (let x = lo + step; x <= hi; x += step) {
      if (this.wall(x) >= wall) break;
      lo = x;
    }
    let up = lo + MINUTE;
    while (up - lo > 1) {
      const mid = Math.floor((lo + up) / 2);
      if (this.wall(mid) >= wall) up = mid;
      else lo = mid;
    }
    return up;
  }
}

/**
 * The instant of UTC date fields (month and day may overflow, as with Date.UTC). Not Date.UTC itself: it reads
 * years 0–99 as 1900–1999, and DateTime accepts years from 0002.
 */
function utc(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime();
}

/** Wall-clock start (as UTC fields) of the day/week/month/year containing wall clock `wall`. */
function periodWall(period: Exclude<CalendarPeriod, 'HOUR'>, wall: number): number {
  const d = new Date(wall);
  const day = utc(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  switch (period) {
    case 'DAY':
      return day;
    case 'WEEK':
      return day - floorMod(d.getUTCDay() - 1, 7) * DAY; // ISO weeks start on Monday
    case 'MONTH':
      return utc(d.getUTCFullYear(), d.getUTCMonth(), 1);
    case 'YEAR':
      return utc(d.getUTCFullYear(), 0, 1);
  }
}

function nextWall(period: Exclude<CalendarPeriod, 'HOUR'>, start: number): number {
  const d = new Date(start);
  switch (period) {
    case 'DAY':
      return utc(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
    case 'WEEK':
      return utc(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 7);
    case 'MONTH':
      return utc(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    case 'YEAR':
      return utc(d.getUTCFullYear() + 1, 0, 1);
  }
}

/** YYYY-MM-DD of the UTC fields of `ms`. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// Names as given by callers (any case, aliases) to zones: bounded, since callers choose the strings.
const zones = new LRUCache<string, TimeZone>({ max: 1000 });

/**
 * The time zone named `name` (an IANA name such as "Europe/Paris", or "UTC"); BAD_USER_INPUT when unknown. Offsets
 * such as "+05:30", which Intl also takes, are refused: a zone's offset changes with the seasons and the law, and a
 * fixed one is not what a place's calendar is (Etc/GMT-5 & co. are the IANA names of fixed whole-hour offsets).
 */
export function timeZone(name: string): TimeZone {
  let zone = zones.get(name);
  if (!zone) {
    try {
      if (/^\s*[+\-\u2212]/u.test(name)) throw new RangeError('an offset, not a time zone');
      zone = new TimeZone(name);
    } catch {
      throw badInput(`Unknown time zone "${name.slice(0, 64)}" (use an IANA name such as "Europe/Paris")`);
    }
    zones.set(name, zone);
  }
  return zone;
}

export const UTC = timeZone('UTC');
