import { z } from 'zod';
import { GHL_VERSIONS } from '../../providers/ghl/client.js';

/**
 * Live checks of a credential a tenant hands us, before it is stored: what the provider says the
 * key covers is what we bind the tenant to, never what the request claims.
 */

/** A credential or id the provider refused: the API answers 400 naming `field`. */
export class CredentialRejected extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

async function getJson(url: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/json', ...headers },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new Error(`could not reach ${new URL(url).host}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

const trim = (base: string) => base.replace(/\/+$/, '');

/** The location a GHL token covers: `GET /locations/{id}` with that token (403 elsewhere). */
export async function verifyGhlLocation(
  baseUrl: string,
  token: string,
  locationId: string,
  field = 'body.token',
): Promise<{ id: string; name: string | null; timezone: string | null }> {
  const { status, json } = await getJson(`${trim(baseUrl)}/locations/${encodeURIComponent(locationId)}`, {
    authorization: `Bearer ${token}`,
    version: GHL_VERSIONS.contacts,
  });
  if (status === 401) throw new CredentialRejected(field, 'GoHighLevel rejected this token (401)');
  if (status === 403) throw new CredentialRejected(field, `this token has no access to location '${locationId}'`);
  if (status === 400 || status === 404 || status === 422) {
    throw new CredentialRejected('body.locationId', `GoHighLevel knows no location '${locationId}'`);
  }
  if (status !== 200) throw new Error(`GoHighLevel answered HTTP ${status} checking the location`);
  const loc = z
    .looseObject({
      location: z.looseObject({ id: z.string(), name: z.string().nullish(), timezone: z.string().nullish() }),
    })
    .safeParse(json);
  if (!loc.success || loc.data.location.id !== locationId) throw new Error('GoHighLevel: unexpected location answer');
  return {
    id: loc.data.location.id,
    name: loc.data.location.name ?? null,
    timezone: loc.data.location.timezone ?? null,
  };
}

const OrgOwned = z.array(z.looseObject({ id: z.string(), orgId: z.string().optional() }));

/**
 * A Vapi private key works and names its org: assistants and numbers carry `orgId`. A key with
 * neither yet is bound to a fingerprint of itself.
 */
export async function verifyVapiKey(baseUrl: string, apiKey: string, fingerprint: string): Promise<{ orgId: string }> {
  const auth = { authorization: `Bearer ${apiKey}` };
  for (const path of ['/assistant?limit=1', '/phone-number?limit=1']) {
    const { status, json } = await getJson(`${trim(baseUrl)}${path}`, auth);
    if (status === 401 || status === 403)
      throw new CredentialRejected('body.apiKey', `Vapi rejected this key (${status})`);
    if (status !== 200) throw new Error(`Vapi answered HTTP ${status} to GET ${path}`);
    const orgId = OrgOwned.safeParse(json).data?.find((r) => r.orgId)?.orgId;
    if (orgId) return { orgId };
  }
  return { orgId: `key:${fingerprint}` };
}

/** Assistant and phone-number ids must exist on the tenant's own Vapi account (404 → 400 naming the field). */
export async function verifyVapiResources(
  baseUrl: string,
  apiKey: string,
  checks: Array<{ field: string; kind: 'assistant' | 'phone-number'; id: string | undefined }>,
): Promise<void> {
  for (const { field, kind, id } of checks) {
    if (!id) continue;
    const { status } = await getJson(`${trim(baseUrl)}/${kind}/${encodeURIComponent(id)}`, {
      authorization: `Bearer ${apiKey}`,
    });
    if (status === 404 || status === 400)
      throw new CredentialRejected(field, `'${id}' is not on this tenant's Vapi account`);
    if (status === 401 || status === 403)
      throw new CredentialRejected(field, `the tenant's Vapi key was refused (${status})`);
    if (status !== 200) throw new Error(`Vapi answered HTTP ${status} checking ${field}`);
  }
}

/** A SendGrid key that may send mail, and a sender it has verified. */
export async function verifySendgrid(
  baseUrl: string,
  apiKey: string,
  senderEmail: string,
): Promise<{ name: string | null }> {
  const auth = { authorization: `Bearer ${apiKey}` };
  const scopes = await getJson(`${trim(baseUrl)}/v3/scopes`, auth);
  if (scopes.status === 401 || scopes.status === 403)
    throw new CredentialRejected('body.apiKey', 'SendGrid rejected this key');
  if (scopes.status !== 200) throw new Error(`SendGrid answered HTTP ${scopes.status} to GET /v3/scopes`);
  const granted = z.looseObject({ scopes: z.array(z.string()) }).safeParse(scopes.json).data?.scopes ?? [];
  if (!granted.includes('mail.send'))
    throw new CredentialRejected('body.apiKey', 'this key may not send mail (scope mail.send)');
  const senders = await getJson(`${trim(baseUrl)}/v3/verified_senders`, auth);
  if (senders.status !== 200) throw new Error(`SendGrid answered HTTP ${senders.status} to GET /v3/verified_senders`);
  const list = z
    .looseObject({
      results: z.array(
        z.looseObject({ from_email: z.string(), from_name: z.string().nullish(), verified: z.boolean().optional() }),
      ),
    })
    .safeParse(senders.json);
  const match = list.data?.results.find(
    (s) => s.from_email.toLowerCase() === senderEmail.toLowerCase() && s.verified !== false,
  );
  if (!match)
    throw new CredentialRejected('body.senderEmail', `'${senderEmail}' is not a verified sender of this SendGrid key`);
  return { name: match.from_name ?? null };
}

/** An Anthropic key that works (`GET /v1/models`). */
export async function verifyAnthropicKey(baseUrl: string, apiKey: string): Promise<void> {
  const { status } = await getJson(`${trim(baseUrl)}/v1/models`, {
    'x-api-key': apiKey,
    'anthropic-version': '2023-06-01',
  });
  if (status === 401 || status === 403)
    throw new CredentialRejected('body.apiKey', `Anthropic rejected this key (${status})`);
  if (status !== 200) throw new Error(`Anthropic answered HTTP ${status} to GET /v1/models`);
}
