import { z } from 'zod';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { nextCallingTime } from '../../lib/callingHours.js';
import type { VoiceSettings } from '../../lib/voice.js';
import { vapiApi, type VoiceProvider } from '../../providers/voice.js';
import type { ProviderAccess } from '../connections/providerAccess.js';

/**
 * Live transfers: transfer_to_human hands the caller to a person — Vapi through the live call's
 * control URL, Retell through the agent's transfer_call tool fed the number by our function answer —
 * inside the tenant's transfer hours. One `call_transfers` row per call records what happened, so a
 * repeated or retried tool call acts once and the call's record can show the transfer and its outcome.
 */

export type TransferStatus = 'pending' | 'requested' | 'message-taken' | 'failed';

export interface TransferRow {
  provider: VoiceProvider;
  providerCallId: string | null;
  status: TransferStatus;
  destination: string | null;
  reason: string | null;
  taskId: string | null;
  detail: string | null;
  at: string;
}

/** Is a person there to take the call now? The transfer hours, else the calling hours, in the business's zone. */
export function transferOpen(settings: VoiceSettings, now = Date.now()): boolean {
  if (!settings.transferNumber) return false;
  return nextCallingTime(now, settings.transferHours ?? settings.callingHours, settings.timezone) <= now;
}

/** The hours in words, for the agent to tell the caller. */
export function transferHoursText(settings: VoiceSettings): string {
  const h = settings.transferHours ?? settings.callingHours;
  const names = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const days = [...h.days].sort().map((d) => names[d - 1]);
  return `${days.join(', ')} ${h.start}-${h.end} ${settings.timezone}`;
}

/** `call:{tenant}:{provider}:{ref}` → provider. */
export function providerOf(workflowId: string): VoiceProvider {
  return workflowId.split(':')[2] === 'retell' ? 'retell' : 'vapi';
}

export async function loadTransfer(c: PoolClient, tenantId: string, workflowId: string): Promise<TransferRow | null> {
  const { rows } = await c.query<{
    provider: VoiceProvider;
    provider_call_id: string | null;
    status: TransferStatus;
    destination: string | null;
    reason: string | null;
    task_id: string | null;
    detail: string | null;
    updated_at: Date;
  }>(
    `select provider, provider_call_id, status, destination, reason, task_id, detail, updated_at
       from call_transfers where tenant_id = $1 and workflow_id = $2`,
    [tenantId, workflowId],
  );
  const r = rows[0];
  return r
    ? {
        provider: r.provider,
        providerCallId: r.provider_call_id,
        status: r.status,
        destination: r.destination,
        reason: r.reason,
        taskId: r.task_id,
        detail: r.detail,
        at: r.updated_at.toISOString(),
      }
    : null;
}

export async function saveTransfer(
  pool: Pool,
  tenantId: string,
  workflowId: string,
  t: Omit<TransferRow, 'at'>,
): Promise<void> {
  await withTenant(pool, tenantId, (c) =>
    c.query(
      `insert into call_transfers (tenant_id, workflow_id, provider, provider_call_id, status, destination, reason, task_id, detail)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (tenant_id, workflow_id) do update set provider_call_id = coalesce(excluded.provider_call_id, call_transfers.provider_call_id),
         status = excluded.status, destination = excluded.destination, reason = excluded.reason,
         task_id = coalesce(excluded.task_id, call_transfers.task_id), detail = excluded.detail, updated_at = now()`,
      [tenantId, workflowId, t.provider, t.providerCallId, t.status, t.destination, t.reason, t.taskId, t.detail],
    ),
  );
}

/** The provider's id of the call this workflow is on now (outbound: the latest attempt). */
async function liveProviderCallId(pool: Pool, tenantId: string, workflowId: string): Promise<string> {
  const { rows } = await withTenant(pool, tenantId, (c) =>
    c.query<{ provider_call_id: string }>(
      `select provider_call_id from call_provider_ids where tenant_id = $1 and workflow_id = $2
        order by attempt desc, created_at desc limit 1`,
      [tenantId, workflowId],
    ),
  );
  return rows[0]?.provider_call_id ?? workflowId.split(':').slice(3).join(':');
}

const VapiCallMonitor = z.looseObject({ monitor: z.looseObject({ controlUrl: z.string().url() }).nullish() });

/**
 * Hands the live call to `destination`, once per call: the first request claims the row and tells the
 * provider; later ones (a retry, the agent asking again) find it and send nothing. Vapi: the call's
 * control URL (read from Vapi's API with the tenant's own key). Retell: nothing to send here — the
 * function answer carries the number for the agent's transfer_call tool (api/routes/voiceWebhooks.ts).
 */
export async function requestTransfer(
  deps: { pool: Pool; access: ProviderAccess },
  t: { tenantId: string; workflowId: string; destination: string; reason: string | null },
): Promise<TransferRow> {
  const { pool } = deps;
  const provider = providerOf(t.workflowId);
  const before = await withTenant(pool, t.tenantId, (c) => loadTransfer(c, t.tenantId, t.workflowId));
  if (before?.status === 'requested') return before;
  const providerCallId = await liveProviderCallId(pool, t.tenantId, t.workflowId);
  const base = { provider, providerCallId, destination: t.destination, reason: t.reason, taskId: null };
  await saveTransfer(pool, t.tenantId, t.workflowId, { ...base, status: 'pending', detail: null });
  let status: TransferStatus = 'requested';
  let detail: string;
  if (provider === 'vapi') {
    try {
      const vapi = vapiApi(await deps.access.vapi(t.tenantId));
      const controlUrl = VapiCallMonitor.parse(await vapi.getCall(providerCallId)).monitor?.controlUrl;
      if (!controlUrl) throw new Error('the call has no control URL (it may have ended)');
      const res = await fetch(controlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 'transfer',
          destination: { type: 'number', number: t.destination, message: 'Connecting you now.' },
        }),
        signal: AbortSignal.timeout(5_000),
      });
      if (!res.ok) throw new Error(`control URL answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      detail = 'live call control';
    } catch (err) {
      status = 'failed';
      detail = err instanceof Error ? err.message : String(err);
    }
  } else {
    detail = 'transfer_call with the number from the function answer';
  }
  await saveTransfer(pool, t.tenantId, t.workflowId, { ...base, status, detail });
  return { ...base, status, detail, at: new Date().toISOString() };
}

/** What the call's record shows: the row, and whether the call in fact ended forwarded. */
export function transferOutcome(
  row: TransferRow,
  call: { status: string; endedReason: string | null },
): 'forwarded' | 'transferring' | 'not-forwarded' | 'message-taken' | 'failed' {
  if (row.status === 'message-taken') return 'message-taken';
  if (row.status === 'failed') return 'failed';
  if (/forward|transfer/i.test(call.endedReason ?? '')) return 'forwarded';
  return call.endedReason ? 'not-forwarded' : 'transferring';
}
