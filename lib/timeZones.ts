import { z } from 'zod';

/** Every IANA time zone this runtime knows by its canonical name, and UTC. */
export const TIME_ZONES: readonly string[] = [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])];
const KNOWN = new Set(TIME_ZONES);

/** An IANA time zone by its canonical name; the document lists them all, so what it allows is taken. */
export const IanaTimeZone = z
  .string()
  .trim()
  .refine((tz) => KNOWN.has(tz), 'not an IANA time zone (e.g. America/New_York)')
  .meta({ enum: [...TIME_ZONES] });
