import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { LeadRef } from './leadEvents.js';

/**
 * One-click unsubscribe links (RFC 8058) and the Inbound Parse URL secret. Links carry tenant,
 * campaign and lead, signed with HMAC-SHA256 under a key derived from the master key (its own
 * purpose label, so it never doubles as an encryption key). Nothing is stored: the signature is the
 * proof, and an unsubscribe never expires.
 */

const unsubscribeKeys = new WeakMap<Buffer, Buffer>();
function unsubscribeKey(masterKey: Buffer): Buffer {
  let key = unsubscribeKeys.get(masterKey);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'switchboard:unsubscribe:v1', 32));
    unsubscribeKeys.set(masterKey, key);
  }
  return key;
}

const mac = (masterKey: Buffer, payload: string) =>
  createHmac('sha256', unsubscribeKey(masterKey)).update(payload).digest().subarray(0, 16);

const Payload = z.tuple([z.string().min(1), z.string().min(1), z.string().min(1)]);

export function unsubscribeToken(masterKey: Buffer, ref: LeadRef): string {
  const payload = Buffer.from(JSON.stringify([ref.tenantId, ref.campaignId, ref.leadId])).toString('base64url');
  return `${payload}.${mac(masterKey, payload).toString('base64url')}`;
}

/** The lead a token names, or undefined when it is malformed or its signature does not match. */
export function verifyUnsubscribeToken(masterKey: Buffer, token: string): LeadRef | undefined {
  const [payload, sig, extra] = token.split('.');
  if (!payload || !sig || extra !== undefined) return undefined;
  const given = Buffer.from(sig, 'base64url');
  const expected = mac(masterKey, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const parsed = Payload.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    if (!parsed.success) return undefined;
    const [tenantId, campaignId, leadId] = parsed.data;
    return { tenantId, campaignId, leadId };
  } catch {
    return undefined;
  }
}

/** A fresh Inbound Parse secret: 32 random bytes, URL-safe. */
export const newInboundSecret = (): string => randomBytes(32).toString('base64url');

/** Constant-time comparison of a presented secret with the stored one. */
export function secretMatches(presented: string, stored: string): boolean {
  const a = createHmac('sha256', 'cmp').update(presented).digest();
  const b = createHmac('sha256', 'cmp').update(stored).digest();
  return timingSafeEqual(a, b);
}
