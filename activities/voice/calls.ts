import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { recordAudit } from '../../domain/audit.js';
import { saveToolCall, type ToolCallRow } from '../../domain/voice/toolCalls.js';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { NotConnectedError } from '../../domain/connections/store.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { contactBlocked } from '../../domain/suppression.js';
import { callQuotaKey, consume, QuotaExceeded } from '../../domain/quotas.js';
import { waitForQuotaReset } from '../quotaWait.js';
import type { VoiceSettings } from '../../lib/voice.js';
import { analyzeCallTranscript, type CallAnalysis } from '../../domain/callAnalysis.js';
import { CALL_REF_KEY, loadVoiceSettings } from '../../domain/voice/settings.js';
import {
  retellApi,
  toCallRecord,
  vapiApi,
  VoiceApiError,
  type CallOutcome,
  type VoiceProvider,
} from '../../providers/voice.js';

/**
 * The voiceCall workflow's bookkeeping and provider work: the `calls` read model, placing outbound
 * attempts (idempotently), finishing a call from its stored record, Claude's analysis, memory.
 */
export interface VoiceCallDeps {
  pool: Pool;
  /** Each tenant's own Vapi / Retell account and Claude key. */
  access: ProviderAccess;
  anthropicModel?: string;
  /** Base URL providers reach our webhooks at (resolved late: the API may pick its port after the worker starts). */
  publicUrl: () => string;
}

function providerFailure(err: unknown): never {
  if (err instanceof VoiceApiError && !err.retryable)
    throw ApplicationFailure.nonRetryable(err.message, 'VoiceProviderRejected');
  if (err instanceof NotConnectedError) throw ApplicationFailure.nonRetryable(err.message, 'NotConnected');
  throw err;
}

export function createVoiceCallActivities(deps: VoiceCallDeps) {
  const { pool, access } = deps;

  /** The tenant's own voice account: its key, so it sees and dials only its own calls and numbers. */
  const vapiFor = async (tenantId: string) => vapiApi(await access.vapi(tenantId));
  const retellFor = async (tenantId: string) => {
    const key = await access.retell(tenantId);
    return retellApi(key, key.apiKey);
  };
  const api = (tenantId: string, provider: VoiceProvider) =>
    provider === 'vapi' ? vapiFor(tenantId) : retellFor(tenantId);

  return {
    /** Creates (or finds) the call's row and hands the workflow the tenant's voice settings. */
    async openCall(input: {
      tenantId: string;
      workflowId: string;
      provider: VoiceProvider;
      direction: 'inbound' | 'outbound';
      providerCallId: string | null;
      customerPhone: string | null;
      ourPhone: string | null;
      contactId: string | null;
      purpose: string | null;
    }): Promise<{ settings: VoiceSettings }> {
      return withTenant(pool, input.tenantId, async (c) => {
        await c.query(
          `insert into calls (tenant_id, workflow_id, provider, direction, provider_call_id, customer_phone, our_phone, contact_id, purpose, status, started_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, case when $4 = 'inbound' then now() end)
           on conflict (tenant_id, workflow_id) do nothing`,
          [
            input.tenantId,
            input.workflowId,
            input.provider,
            input.direction,
            input.providerCallId,
            input.customerPhone,
            input.ourPhone,
            input.contactId,
            input.purpose,
            input.direction === 'inbound' ? 'in-progress' : 'scheduled',
          ],
        );
        if (input.providerCallId) {
          await c.query(
            `insert into call_provider_ids (tenant_id, provider, provider_call_id, workflow_id) values ($1, $2, $3, $4) on conflict do nothing`,
            [input.tenantId, input.provider, input.providerCallId, input.workflowId],
          );
        }
        return { settings: await loadVoiceSettings(c, input.tenantId) };
      });
    },

    async recordCallStatus(input: {
      tenantId: string;
      workflowId: string;
      status: string;
      attempts: number;
    }): Promise<void> {
      await withTenant(pool, input.tenantId, (c) =>
        c.query(
          'update calls set status = $3, attempts = greatest(attempts, $4), updated_at = now() where tenant_id = $1 and workflow_id = $2',
          [input.tenantId, input.workflowId, input.status, input.attempts],
        ),
      );
    },

    /**
     * Places attempt N of an outbound call, once: a retry finds the attempt recorded in Postgres, or
     * — if we crashed between the provider's answer and our record — the call at the provider by the
     * attempt reference in its metadata.
     */
    async placeCall(input: {
      tenantId: string;
      workflowId: string;
      provider: VoiceProvider;
      attempt: number;
      callRef: string;
      to: string;
      contactId?: string;
      purpose: string;
      assistant?: string;
      metadata: Record<string, string>;
    }): Promise<{ providerCallId: string; suppressed?: undefined } | { suppressed: true }> {
      const prior = await withTenant(pool, input.tenantId, async (c) => {
        if (
          await contactBlocked(c, {
            tenantId: input.tenantId,
            channel: 'call',
            phone: input.to,
            contactId: input.contactId,
          })
        )
          return { suppressed: true as const };
        const { rows } = await c.query<{ provider_call_id: string; created_at: Date }>(
          'select provider_call_id, created_at from call_provider_ids where tenant_id = $1 and workflow_id = $2 and attempt = $3',
          [input.tenantId, input.workflowId, input.attempt],
        );
        // Counted once per call (the REST request that started it may have counted it already).
        if (!rows[0])
          await consume(c, input.tenantId, 'calls_per_day', 1, {
            defaults: access.quotaDefaults,
            key: callQuotaKey(input.workflowId),
          });
        return { row: rows[0], settings: await loadVoiceSettings(c, input.tenantId) };
      }).catch(async (err: unknown) => {
        if (!(err instanceof QuotaExceeded)) throw err;
        // Past the daily call quota the attempt is not placed: it waits for the reset (the retry
        // is scheduled then), with no workflow change; the read model says why.
        await withTenant(pool, input.tenantId, (c) =>
          c.query(
            `update calls set status = 'quota-wait', updated_at = now() where tenant_id = $1 and workflow_id = $2`,
            [input.tenantId, input.workflowId],
          ),
        );
        waitForQuotaReset(err);
      });
      if ('suppressed' in prior) return { suppressed: true };
      if (prior.row) return { providerCallId: prior.row.provider_call_id };
      const { settings } = prior;
      // Provider-side references carry the tenant, so no other tenant's listing can ever match them.
      const attemptRef = `${input.tenantId}/${input.callRef}#${input.attempt}`;
      const metadata = {
        ...input.metadata,
        [CALL_REF_KEY]: input.callRef,
        switchboardTenant: input.tenantId,
        switchboardAttempt: attemptRef,
      };
      const request = {
        to: input.to,
        metadata,
        variables: { purpose: input.purpose, ...(input.contactId ? { contactId: input.contactId } : {}) },
        serverUrl: `${deps.publicUrl()}/webhooks/${input.provider}/${input.tenantId}`,
      };
      // When this attempt first dialled (kept across retries): a retry after a crash searches every
      // call of the account since then, however many others were placed meanwhile.
      const since = await withTenant(pool, input.tenantId, async (c) => {
        const { rows } = await c.query<{ started_at: Date }>(
          `insert into call_dial_attempts (tenant_id, workflow_id, attempt) values ($1, $2, $3)
           on conflict (tenant_id, workflow_id, attempt) do update set tenant_id = excluded.tenant_id
           returning started_at`,
          [input.tenantId, input.workflowId, input.attempt],
        );
        return new Date(rows[0]!.started_at.getTime() - 60_000).toISOString();
      });
      let providerCallId: string;
      const started = Date.now();
      const audit = (status: 'ok' | 'error', error?: string) =>
        recordAudit(pool, {
          tenantId: input.tenantId,
          workflowId: input.workflowId,
          runId: activityInfo().workflowExecution?.runId,
          activity: 'placeCall',
          params: { provider: input.provider, to: input.to, attempt: input.attempt },
          status,
          durationMs: Date.now() - started,
          source: access.mode(input.provider),
          ...(error ? { error } : {}),
        });
      try {
        if (input.provider === 'vapi') {
          const vapi = await vapiFor(input.tenantId);
          const assistantId = input.assistant ?? settings.vapi.assistantId;
          const phoneNumberId = settings.vapi.phoneNumberId;
          if (!assistantId || !phoneNumberId)
            throw ApplicationFailure.nonRetryable(
              'voice settings need vapi.assistantId and vapi.phoneNumberId for outbound Vapi calls',
              'VoiceNotConfigured',
            );
          providerCallId =
            (await vapi.findCall(since, 'switchboardAttempt', attemptRef)) ??
            (await vapi.createCall({ ...request, assistantId, phoneNumberId }));
        } else {
          const retell = await retellFor(input.tenantId);
          const fromNumber = settings.retell.fromNumber;
          if (!fromNumber)
            throw ApplicationFailure.nonRetryable(
              'voice settings need retell.fromNumber for outbound Retell calls',
              'VoiceNotConfigured',
            );
          providerCallId =
            (await retell.findCall(input.to, 'switchboardAttempt', attemptRef)) ??
            (await retell.createCall({ ...request, fromNumber, agentId: input.assistant ?? settings.retell.agentId }));
        }
      } catch (err) {
        await audit('error', (err as Error).message);
        providerFailure(err);
      }
      await audit('ok');
      await withTenant(pool, input.tenantId, async (c) => {
        await c.query(
          `insert into call_provider_ids (tenant_id, provider, provider_call_id, workflow_id, attempt) values ($1, $2, $3, $4, $5) on conflict do nothing`,
          [input.tenantId, input.provider, providerCallId, input.workflowId, input.attempt],
        );
        await c.query(
          `update calls set provider_call_id = $3, attempts = greatest(attempts, $4), status = 'queued', started_at = coalesce(started_at, now()), updated_at = now()
           where tenant_id = $1 and workflow_id = $2`,
          [input.tenantId, input.workflowId, providerCallId, input.attempt],
        );
      });
      return { providerCallId };
    },

    /** The call as the provider's REST API has it now, stored like any event (no end-of-call report came). */
    async fetchProviderCall(input: {
      tenantId: string;
      workflowId: string;
      provider: VoiceProvider;
      providerCallId: string;
    }): Promise<{ ended: boolean; eventKey: string }> {
      const payload = await (
        await api(input.tenantId, input.provider)
      )
        .getCall(input.providerCallId)
        .catch(providerFailure);
      const ended = toCallRecord(input.provider, payload).ended;
      const eventKey = `rest:${input.providerCallId}:${ended ? 'ended' : Date.now()}`;
      await withTenant(pool, input.tenantId, (c) =>
        c.query(
          `insert into call_events (tenant_id, workflow_id, event_key, type, provider_call_id, payload) values ($1, $2, $3, 'rest-call', $4, $5)
           on conflict (tenant_id, workflow_id, event_key) do update set payload = excluded.payload, received_at = now()`,
          [input.tenantId, input.workflowId, eventKey, input.providerCallId, JSON.stringify(payload)],
        ),
      );
      return { ended, eventKey };
    },

    /**
     * Writes the call's record from a stored event (report, Retell call_ended, or the REST call):
     * the whole transcript replaced in order, recording, cost, ended reason. Idempotent.
     */
    async persistCallRecord(input: {
      tenantId: string;
      workflowId: string;
      provider: VoiceProvider;
      eventKey: string;
    }): Promise<{
      outcome: CallOutcome;
      utterances: number;
      endedReason: string | null;
      providerSummary: string | null;
    }> {
      return withTenant(pool, input.tenantId, async (c) => {
        const { rows } = await c.query<{ payload: Record<string, unknown> }>(
          'select payload from call_events where tenant_id = $1 and workflow_id = $2 and event_key = $3',
          [input.tenantId, input.workflowId, input.eventKey],
        );
        if (!rows[0])
          throw ApplicationFailure.nonRetryable(
            `event ${input.eventKey} of ${input.workflowId} is not stored`,
            'MissingEvent',
          );
        const p = rows[0].payload;
        // Vapi's report nests the call under `message`; Retell's events under `call`; REST is the call itself.
        const body =
          (p.message as Record<string, unknown> | undefined) ??
          (p.call && p.event ? (p.call as Record<string, unknown>) : p);
        const record = toCallRecord(input.provider, body);
        await c.query('delete from call_utterances where tenant_id = $1 and workflow_id = $2', [
          input.tenantId,
          input.workflowId,
        ]);
        if (record.utterances.length) {
          await c.query(
            `insert into call_utterances (tenant_id, workflow_id, seq, role, text, seconds_from_start)
             select $1, $2, u.ord, u.role, u.text, u.secs
             from rows from (jsonb_to_recordset($3::jsonb) as (role text, text text, secs double precision)) with ordinality as u(role, text, secs, ord)`,
            [
              input.tenantId,
              input.workflowId,
              JSON.stringify(record.utterances.map((u) => ({ role: u.role, text: u.text, secs: u.secondsFromStart }))),
            ],
          );
        }
        await c.query(
          `update calls set ended_reason = $3, started_at = coalesce($4::timestamptz, started_at), ended_at = coalesce($5::timestamptz, now()),
             cost = coalesce($6, cost), recording_url = coalesce($7, recording_url), status = 'ended', updated_at = now()
           where tenant_id = $1 and workflow_id = $2`,
          [
            input.tenantId,
            input.workflowId,
            record.endedReason,
            record.startedAt,
            record.endedAt,
            record.cost,
            record.recordingUrl,
          ],
        );
        return {
          outcome: record.outcome,
          utterances: record.utterances.length,
          endedReason: record.endedReason,
          providerSummary: record.providerSummary,
        };
      });
    },

    /** Claude reads the stored transcript (never passed through workflow history). */
    async analyzeCall(input: {
      tenantId: string;
      workflowId: string;
      appointmentIds: string[];
      providerSummary: string | null;
    }): Promise<CallAnalysis> {
      const transcript = await withTenant(
        pool,
        input.tenantId,
        async (c) =>
          (
            await c.query<{ role: string; text: string }>(
              'select role, text from call_utterances where tenant_id = $1 and workflow_id = $2 order by seq',
              [input.tenantId, input.workflowId],
            )
          ).rows,
      );
      const llm = await access.llm(input.tenantId, { model: deps.anthropicModel });
      return analyzeCallTranscript(llm, {
        transcript,
        appointmentIds: input.appointmentIds,
        providerSummary: input.providerSummary,
      });
    },

    /** A tool call's row, when its own activity could not write it (refused, or every attempt failed). */
    async recordToolCall(input: ToolCallRow): Promise<void> {
      await withTenant(pool, input.tenantId, (c) => saveToolCall(c, input, access.mode('ghl')));
    },

    async finishCall(input: {
      tenantId: string;
      workflowId: string;
      status: CallOutcome;
      contactId: string | null;
      analysis: CallAnalysis;
      crmEffects: Record<string, unknown>;
      attempts: number;
    }): Promise<void> {
      const a = input.analysis;
      await withTenant(pool, input.tenantId, (c) =>
        c.query(
          `update calls set status = $3, contact_id = coalesce($4, contact_id), summary = $5, sentiment = $6, outcome = $7, next_action = $8, crm_effects = $9,
             attempts = greatest(attempts, $10), updated_at = now()
           where tenant_id = $1 and workflow_id = $2`,
          [
            input.tenantId,
            input.workflowId,
            input.status,
            input.contactId,
            a.summary,
            a.sentiment,
            a.outcome,
            a.nextAction,
            JSON.stringify(input.crmEffects),
            input.attempts,
          ],
        ),
      );
    },
  };
}

export type VoiceCallActivities = ReturnType<typeof createVoiceCallActivities>;
