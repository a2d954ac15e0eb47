import { describe, expect, it } from 'vitest';
import { nextCallingTime } from '../lib/callingHours.js';

const weekdays = { start: '09:00', end: '17:00', days: [1, 2, 3, 4, 5] };

describe('calling hours (outbound calls ring only when the business allows)', () => {
  it('inside the hours: now', () => {
    const now = Date.parse('2026-11-23T15:00:00Z'); // Monday 10:00 in New York
    expect(nextCallingTime(now, weekdays, 'America/New_York')).toBe(now);
  });

  it('after closing on Friday: Monday at opening, local time', () => {
    const friEvening = Date.parse('2026-11-27T23:30:00Z'); // Friday 18:30 in New York
    expect(new Date(nextCallingTime(friEvening, weekdays, 'America/New_York')).toISOString()).toBe(
      '2026-11-30T14:00:00.000Z',
    );
  });

  it('before opening in another zone, across a DST change', () => {
    const early = Date.parse('2027-03-28T05:00:00Z'); // Sunday 07:00 in Berlin, the day clocks go forward
    expect(
      new Date(nextCallingTime(early, { start: '09:00', end: '12:00', days: [7] }, 'Europe/Berlin')).toISOString(),
    ).toBe('2027-03-28T07:00:00.000Z');
  });

  it('never-open hours are an error, not a silent wait', () => {
    expect(() => nextCallingTime(Date.now(), { start: '10:00', end: '10:00', days: [1] }, 'UTC')).toThrow(/never open/);
  });
});
