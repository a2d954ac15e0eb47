/**
 * When may an outbound call ring? Pure functions (used inside workflows, so no I/O and no clock of
 * their own): the tenant's local calling hours and days, in its IANA time zone.
 */
export interface CallingHours {
  start: string; // HH:MM
  end: string; // HH:MM, may be 24:00
  days: number[]; // 1 = Monday … 7 = Sunday
}

/** Minutes east of UTC of `timeZone` at `instant`. */
function offsetMinutes(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(instant);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((asUtc - Math.floor(instant / 1000) * 1000) / 60_000);
}

/** The instant of local wall time `y-m-d hh:mm` in `timeZone` (the earlier one across a DST change). */
function localToInstant(y: number, m: number, d: number, minutes: number, timeZone: string): number {
  const guess = Date.UTC(y, m - 1, d) + minutes * 60_000;
  const first = guess - offsetMinutes(guess, timeZone) * 60_000;
  return guess - offsetMinutes(first, timeZone) * 60_000;
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** `now` if it is inside the calling hours, else the next instant they open (within two weeks). */
export function nextCallingTime(now: number, hours: CallingHours, timeZone: string): number {
  const start = toMinutes(hours.start);
  const end = toMinutes(hours.end);
  for (let day = 0; day < 15; day++) {
    const local = new Date(now + offsetMinutes(now, timeZone) * 60_000 + day * 86_400_000);
    const [y, m, d] = [local.getUTCFullYear(), local.getUTCMonth() + 1, local.getUTCDate()];
    const weekday = ((local.getUTCDay() + 6) % 7) + 1;
    if (!hours.days.includes(weekday)) continue;
    const opens = localToInstant(y, m, d, start, timeZone);
    const closes = localToInstant(y, m, d, end, timeZone);
    if (opens < closes && now < closes) return Math.max(now, opens);
  }
  throw new Error(`calling hours ${hours.start}-${hours.end} on days ${hours.days.join(',')} never open`);
}
