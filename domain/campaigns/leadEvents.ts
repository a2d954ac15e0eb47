import type { PoolClient } from '../../lib/db.js';

/** A lead's timeline (`lead_events`), appended to by the campaign activities and the SendGrid webhooks. */

export interface LeadRef {
  tenantId: string;
  campaignId: string;
  leadId: string;
}

export interface LeadEvent {
  kind: string;
  stepIndex?: number | null;
  data?: Record<string, unknown>;
  /** Workflow time, ms. */
  at: number;
  /** Unique per tenant: a retried activity appends the same event once. */
  key: string;
}

/** Appends to the lead's timeline; returns false when the event (by key) is already there. */
export async function appendEvents(client: PoolClient, ref: LeadRef, events: LeadEvent[]): Promise<void> {
  if (!events.length) return;
  await client.query(
    `insert into lead_events (tenant_id, campaign_id, lead_id, kind, step_index, data, occurred_at, event_key)
     select $1, $2, $3, e.kind, e.step_index, coalesce(e.data, '{}'), to_timestamp(e.at / 1000.0), e.key
       from jsonb_to_recordset($4::jsonb) as e(kind text, step_index int, data jsonb, at double precision, key text)
     on conflict (tenant_id, event_key) do nothing`,
    [
      ref.tenantId,
      ref.campaignId,
      ref.leadId,
      JSON.stringify(
        events.map((e) => ({
          kind: e.kind,
          step_index: e.stepIndex ?? null,
          data: e.data ?? {},
          at: e.at,
          key: e.key,
        })),
      ),
    ],
  );
}

export const eventKey = (ref: LeadRef, ...parts: (string | number)[]) =>
  [ref.campaignId, ref.leadId, ...parts].join(':');
