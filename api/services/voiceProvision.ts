import { z } from 'zod';
import { toolDefinitions } from '../../activities/voice/tools.js';
import type { CrmDeps } from '../../domain/crm/callerLookup.js';
import type { StoredCredential } from '../../domain/credentials.js';
import type { Pool } from '../../lib/db.js';
import type { VoiceSettings } from '../../lib/voice.js';
import { vapiApi, VoiceApiError, type VapiResource } from '../../providers/voice.js';
import type { TenantVoiceCache } from '../voiceTenants.js';
import { conflict, ServiceError } from './errors.js';
import { readVoiceSettings, saveVoiceSettings } from './voiceSettings.js';

/**
 * Vapi provisioning (`POST /v1/voice/provision`): with the tenant's own Vapi key, its phone numbers
 * are pointed at our webhook (server URL + the credential our voice webhooks verify) and its
 * assistant is created or updated with our tool definitions, so nobody copies URLs and JSON by
 * hand. Only differences are written: a second run changes nothing at Vapi.
 */

/** Server messages the assistant sends us (assistant-request comes from the number's server). */
const SERVER_MESSAGES = [
  'status-update',
  'transcript',
  'tool-calls',
  'transfer-destination-request',
  'end-of-call-report',
  'hang',
];

export interface VapiServer {
  url: string;
  secret?: string;
  headers?: Record<string, string>;
}

/** Where Vapi reaches the tenant's webhook, proving itself the way the webhook checks (api/routes/voiceWebhooks.ts). */
export function vapiServer(url: string, credential: StoredCredential | undefined): VapiServer {
  if (!credential)
    throw conflict('set the tenant’s Vapi webhook credential first (PUT /v1/admin/tenants/:id/credentials/vapi)');
  switch (credential.authMode ?? 'x-vapi-secret') {
    case 'x-vapi-secret':
      return { url, secret: credential.secret };
    case 'bearer':
      return { url, headers: { authorization: `Bearer ${credential.secret}` } };
    case 'hmac':
      // Vapi signs HMAC only with a credential made in its dashboard (credentialId), which we cannot set here.
      throw conflict(
        "the Vapi credential's authMode is hmac: create the HMAC credential in Vapi and point the numbers by hand, or use x-vapi-secret / bearer",
      );
  }
}

/** The assistant our settings describe: greeting, instructions, the tenant's tools, our server. */
export function assistantFor(settings: VoiceSettings, server: VapiServer) {
  return {
    name: 'Switchboard front desk',
    firstMessage: settings.greeting,
    model: {
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      messages: [
        {
          role: 'system',
          content: `${settings.instructions}\nCaller: {{customerName}} ({{customerPhone}}), known: {{knownCaller}}.`,
        },
      ],
      tools: toolDefinitions(settings.tools).map((t) => ({ type: 'function', function: t, server })),
    },
    server,
  };
}

export const ProvisionResult = z.object({
  serverUrl: z.string(),
  assistant: z.object({ id: z.string(), created: z.boolean(), updated: z.boolean() }),
  phoneNumbers: z.array(z.object({ id: z.string(), number: z.string().nullable(), updated: z.boolean() })),
  /** Nothing at Vapi changed (a repeated run). */
  unchanged: z.boolean(),
});
export type ProvisionResult = z.infer<typeof ProvisionResult>;

/** JSON of `v` with keys sorted and undefined dropped: two configurations compare equal when they mean the same. */
function canonical(v: unknown): string {
  const walk = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(walk)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.entries(x as Record<string, unknown>)
              .filter(([, y]) => y !== undefined && y !== null)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, y]) => [k, walk(y)]),
          )
        : (x ?? null);
  return JSON.stringify(walk(v) ?? null);
}

/** The fields of `desired` that `current` does not already have. */
function differences(current: Record<string, unknown>, desired: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(desired).filter(([k, v]) => canonical(current[k]) !== canonical(v)));
}

export async function provisionVapi(
  deps: { pool: Pool; voice: TenantVoiceCache; crm: CrmDeps },
  tenantId: string,
  serverUrl: string,
): Promise<ProvisionResult> {
  const vapi = vapiApi(await deps.crm.access.vapi(tenantId));
  const tenant = await deps.voice.get(tenantId);
  const server = vapiServer(serverUrl, tenant.vapi);
  const settings = await readVoiceSettings(deps.pool, tenantId);
  const marker = { switchboardTenant: tenantId };
  const desired = {
    ...assistantFor(settings, server),
    serverMessages: SERVER_MESSAGES,
    metadata: marker,
  };

  try {
    // The tenant's assistant: the one its settings name, else the one we made for it before.
    const named = settings.vapi.assistantId ? await vapi.getAssistant(settings.vapi.assistantId) : null;
    const ours =
      named ??
      (await vapi.listAssistants()).find(
        (a: VapiResource) => (a.metadata as Record<string, unknown> | undefined)?.switchboardTenant === tenantId,
      );
    let assistant: { id: string; created: boolean; updated: boolean };
    if (!ours) {
      assistant = { id: (await vapi.createAssistant(desired)).id, created: true, updated: false };
    } else {
      const patch = differences(ours, desired);
      if (Object.keys(patch).length) await vapi.updateAssistant(ours.id, patch);
      assistant = { id: ours.id, created: false, updated: Object.keys(patch).length > 0 };
    }

    // Every number of the tenant's Vapi account: its calls ask us which assistant answers (caller lookup).
    const phoneNumbers = [];
    for (const n of await vapi.listPhoneNumbers()) {
      const want = { server, assistantId: null };
      const patch = differences(n, want);
      if (Object.keys(patch).length) await vapi.updatePhoneNumber(n.id, patch);
      phoneNumbers.push({
        id: n.id,
        number: typeof n.number === 'string' ? n.number : null,
        updated: Object.keys(patch).length > 0,
      });
    }

    if (settings.vapi.assistantId !== assistant.id)
      await saveVoiceSettings(deps, tenantId, { ...settings, vapi: { ...settings.vapi, assistantId: assistant.id } });
    return {
      serverUrl,
      assistant,
      phoneNumbers,
      unchanged: !assistant.created && !assistant.updated && phoneNumbers.every((p) => !p.updated),
    };
  } catch (err) {
    if (err instanceof VoiceApiError && !err.retryable)
      throw new ServiceError(409, `Vapi refused the configuration: ${err.message}`);
    throw err;
  }
}
