import { z } from 'zod';

/**
 * An ISO 8601 date-time with an offset, handed on as the UTC instant it names: Postgres refuses
 * offsets past ±15:59 that the format allows (`…-17:38`), and the instant is what every query means.
 */
export const Instant = z.iso.datetime({ offset: true }).transform((s, ctx) => {
  const at = new Date(s);
  if (Number.isNaN(at.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not a date-time: ${s}` });
    return z.NEVER;
  }
  return at.toISOString();
});
