/** Time-zone arithmetic with Intl only (no tz database dependency). */

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for an unknown IANA zone. */
export function assertTimeZone(tz: string): void {
  formatter(tz);
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = offsetFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset', year: 'numeric' });
    offsetFormatters.set(tz, f);
  }
  return f;
}

/** Minutes east of UTC for `tz` at instant `ms` (e.g. -240 for New York in summer). */
export function offsetMinutes(tz: string, ms: number): number {
  const name =
    formatter(tz)
      .formatToParts(ms)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return m[1] === '-' ? -minutes : minutes;
}

/** Wall-clock fields of an instant in `tz`. */
export function wallClock(tz: string, ms: number) {
  const d = new Date(ms + offsetMinutes(tz, ms) * 60_000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    /** ISO weekday, 1 = Monday. */
    isoWeekday: ((d.getUTCDay() + 6) % 7) + 1,
  };
}

/** The instant at which the wall clock in `tz` shows the given local time. */
export function zonedToUtc(tz: string, year: number, month: number, day: number, hour: number, minute: number): number {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  let ms = guess - offsetMinutes(tz, guess) * 60_000;
  ms = guess - offsetMinutes(tz, ms) * 60_000; // second pass settles DST edges
  return ms;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `2026-03-02` for the local date of `ms` in `tz`. */
export function localDate(tz: string, ms: number): string {
  const w = wallClock(tz, ms);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

/** ISO 8601 with the zone's offset, the way GHL returns slots: `2026-03-02T09:00:00-05:00`. */
export function isoWithOffset(tz: string, ms: number): string {
  const off = offsetMinutes(tz, ms);
  const w = wallClock(tz, ms);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
