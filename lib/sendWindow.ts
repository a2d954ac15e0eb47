import type { SendWindow, Weekday } from './campaign.js';

/**
 * Recipient-local send windows, as pure functions of an instant: the leadOutreach workflow calls them
 * with workflow time (deterministic, and skipped time in tests), then sleeps on a durable timer.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: Weekday;
}

export function localTime(ms: number, tz: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: parts.weekday!.toLowerCase().slice(0, 3) as Weekday,
  };
}

/** UTC offset of `tz` at instant `ms`, in ms (local = utc + offset). */
function offsetAt(ms: number, tz: string): number {
  const l = localTime(ms, tz);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second) - Math.floor(ms / 1000) * 1000;
}

/** The instant of a local wall-clock time (a time skipped by a DST jump resolves to just after it). */
export function zonedInstant(year: number, month: number, day: number, hour: number, tz: string): number {
  const wall = Date.UTC(year, month - 1, day, hour);
  const first = wall - offsetAt(wall, tz);
  return wall - offsetAt(first, tz);
}

export function inWindow(ms: number, tz: string, w: SendWindow): boolean {
  const l = localTime(ms, tz);
  return w.days.includes(l.weekday) && l.hour >= w.startHour && l.hour < w.endHour;
}

/** `ms` itself when it is inside the window, else the start of the next window (recipient-local). */
export function nextWindowStart(ms: number, tz: string, w: SendWindow): number {
  if (inWindow(ms, tz, w)) return ms;
  const today = localTime(ms, tz);
  for (let d = 0; d <= 8; d++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + d));
    const start = zonedInstant(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), w.startHour, tz);
    if (start > ms && inWindow(start, tz, w)) return start;
  }
  throw new Error(`no send window within 8 days for ${tz}`);
}
