import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { openTenantCrm, type CrmDeps } from '../../domain/crm/callerLookup.js';
import { freeSlots } from '../../domain/crm/freeSlots.js';
import { readCredential } from '../../domain/credentials.js';
import { loadVoiceSettings } from '../../domain/voice/settings.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { workflowIds } from '../../lib/workflowIds.js';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { setCredential } from '../services/credentials.js';
import { saveVoiceSettings } from '../services/voiceSettings.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

/**
 * The console's first-run tour on the keyless sandbox: "simulate an inbound call" plays a scripted
 * caller who books, through the sandbox's Vapi call simulator, against this tenant's own Vapi
 * webhook — the same path a real call takes. Registered only when Vapi is the local sandbox
 * (api/server.ts), so no live install has this route.
 */

export interface SandboxTourOptions {
  pool: Pool;
  masterKey: Buffer;
  voice: TenantVoiceCache;
  crm: CrmDeps;
  /** The sandbox's control API (`http://127.0.0.1:3100/__sandbox`). */
  controlUrl: string;
  /** Where the simulator reaches our webhooks; unset: the request's own origin. */
  publicUrl?: string;
}

/** The sandbox's demo location: its calendar and its known caller (sandbox/README.md). */
const DEMO_CALENDAR = 'cal_demo';
const DEMO_CALLER = '+15555550100';

export const sandboxTourRoutes: FastifyPluginAsyncZod<SandboxTourOptions> = async (app, opts) => {
  app.post(
    '/v1/sandbox/calls',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Sandbox only: simulate an inbound call from a caller who books (the first-run tour)',
        tags: ['calls'],
        body: z
          .strictObject({
            from: z
              .string()
              .regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number')
              .optional()
              .describe("the caller's number (default: the sandbox's known demo caller)"),
          })
          .default({}),
        response: {
          202: z.object({ workflowId: z.string(), providerCallId: z.string(), booking: z.string().nullable() }),
          409: ErrorBody,
          502: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      // The simulator signs its messages with the tenant's own Vapi webhook secret; a sandbox tenant
      // that has none gets a fresh one (it only ever authenticates the local simulator).
      let credential = await readCredential(opts.pool, opts.masterKey, tenantId, 'vapi');
      if (!credential) {
        const secret = randomBytes(24).toString('base64url');
        await setCredential(opts, tenantId, 'vapi', { secret, authMode: 'x-vapi-secret' });
        credential = { secret, authMode: 'x-vapi-secret' };
      }
      // A caller who books needs a calendar: the demo location's, when the tenant has none yet.
      let settings = await withTenant(opts.pool, tenantId, (c) => loadVoiceSettings(c, tenantId));
      if (!settings.calendarId) {
        settings = await saveVoiceSettings(opts, tenantId, { ...settings, calendarId: DEMO_CALENDAR }).catch(
          () => settings,
        );
      }
      let slot: string | null = null;
      if (settings.calendarId) {
        try {
          const crm = await openTenantCrm(opts.crm, tenantId);
          const from = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
          const to = new Date(Date.now() + 8 * 86_400_000).toISOString().slice(0, 10);
          slot = (await freeSlots(tenantId, crm, { startDate: from, endDate: to })).slots[0] ?? null;
        } catch (err) {
          req.log.info({ err: (err as Error).message }, 'tour call: no free slot; the caller will not book');
        }
      }
      const startDate = slot?.slice(0, 10) ?? new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      const steps = [
        { user: "Hi, I'd like to book a cleaning appointment, please." },
        { pauseMs: 700 },
        { tool: 'lookup_caller', arguments: {} },
        { assistant: 'Let me check what we have.' },
        { tool: 'get_free_slots', arguments: { startDate } },
        { pauseMs: 700 },
        ...(slot
          ? [
              { user: 'The first one works for me.' },
              { tool: 'book_appointment', arguments: { startTime: slot } },
              { pauseMs: 700 },
            ]
          : [{ user: 'Hmm, I will call back later.' }]),
        { user: 'Great, thank you. Bye!' },
      ];
      const base = opts.publicUrl ?? `${req.protocol}://${req.host}`;
      const res = await fetch(`${opts.controlUrl}/vapi/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          serverUrl: `${base}/webhooks/vapi/${encodeURIComponent(tenantId)}`,
          credential: { type: credential.authMode ?? 'x-vapi-secret', secret: credential.secret },
          direction: 'inbound',
          from: req.body.from ?? DEMO_CALLER,
          script: { steps },
        }),
        signal: AbortSignal.timeout(10_000),
      }).catch((err: unknown) => err as Error);
      if (res instanceof Error || !res.ok) {
        const why = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
        return fail(reply, 502, `the sandbox's call simulator did not start the call: ${why}`);
      }
      const { id } = (await res.json()) as { id: string };
      const workflowId = workflowIds.voiceCall(tenantId, 'vapi', id);
      // Answer once the call is on record, so a client that opens it at once finds it.
      for (let waited = 0; waited < 10_000; waited += 200) {
        const found = await withTenant(opts.pool, tenantId, (c) =>
          c.query('select 1 from calls where tenant_id = $1 and workflow_id = $2', [tenantId, workflowId]),
        );
        if (found.rowCount) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      return reply.code(202).send({ workflowId, providerCallId: id, booking: slot });
    },
  );
};
