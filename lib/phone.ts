import { z } from 'zod';

/**
 * E.164 normalisation for caller-ID and contact lookups. Numbers without a country code are taken
 * as North American (GoHighLevel's default); anything that cannot be a phone number gives null.
 */
export function toE164(raw: string | null | undefined, defaultCountryCode = '1'): string | null {
  if (!raw) return null;
  const trimmed = raw.trim();
  const digits = trimmed.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15) return null;
  if (trimmed.startsWith('+')) return `+${digits}`;
  if (trimmed.startsWith('00')) return `+${digits.slice(2)}`;
  if (defaultCountryCode === '1' && digits.length === 11 && digits.startsWith('1')) return `+${digits}`;
  if (digits.length === 10) return `+${defaultCountryCode}${digits}`;
  return `+${digits}`;
}

/**
 * What toE164 takes, as a pattern (so an OpenAPI document can say it): 7–15 digits, an optional
 * leading `+` and `(`, and up to two separators (space, dot, dash, parentheses) between digits.
 */
export const PHONE_PATTERN = /^\+?\(?(?:[0-9][ ().-]{0,2}){6,14}[0-9]$/;
export const PHONE_HINT = 'not a phone number (7–15 digits, optional +, spaces, dots, dashes, parentheses)';

/** A phone number in any common format, as typed (REST query and body fields). */
export const PhoneInput = z.string().trim().max(40).regex(PHONE_PATTERN, PHONE_HINT);

/** Any common phone format in, E.164 out (zod); a value that cannot be a phone number names itself in the error. */
export const PhoneNumber = z
  .string()
  .trim()
  .max(40)
  .regex(PHONE_PATTERN, PHONE_HINT)
  .transform(
    (raw, ctx) =>
      toE164(raw) ??
      (ctx.addIssue({ code: 'custom', message: `not a phone number, got ${JSON.stringify(raw)}` }), z.NEVER),
  );
