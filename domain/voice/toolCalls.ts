import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';
import { insertAudit, type AuditEntry } from '../audit.js';

/**
 * The call record's tool-call rows (`call_tool_calls`, one per workflow + toolCallId) and their
 * audit rows: written once, however often the activity writing them is retried. The row is also
 * the live call's answer: its first write NOTIFYs `TOOL_ANSWER_CHANNEL` (on commit), and the API
 * process waiting to answer the voice provider reads it.
 */

export const TOOL_ANSWER_CHANNEL = 'switchboard_tool_answers';

/** The notification key of one tool call's answer (JSON: ids from providers may hold any character). */
export function toolAnswerKey(tenantId: string, workflowId: string, toolCallId: string): string {
  return JSON.stringify([tenantId, workflowId, toolCallId]);
}

export interface ToolCallRow {
  tenantId: string;
  workflowId: string;
  toolCallId: string;
  name: string;
  args: unknown;
  result: string | null;
  error: string | null;
  latencyMs: number;
  /** When the tool call came in (epoch ms): the call's page lists them in that order. */
  at?: number | null;
  contactId?: string | null;
  appointmentId?: string | null;
}

export interface StoredToolCall {
  result: string | null;
  error: string | null;
  contactId: string | null;
  appointmentId: string | null;
}

export async function findToolCall(
  c: PoolClient,
  tenantId: string,
  workflowId: string,
  toolCallId: string,
): Promise<StoredToolCall | undefined> {
  const { rows } = await c.query<{
    result: string | null;
    error: string | null;
    contact_id: string | null;
    appointment_id: string | null;
  }>(
    `select result, error, contact_id, appointment_id from call_tool_calls
     where tenant_id = $1 and workflow_id = $2 and tool_call_id = $3`,
    [tenantId, workflowId, toolCallId],
  );
  const r = rows[0];
  return r && { result: r.result, error: r.error, contactId: r.contact_id, appointmentId: r.appointment_id };
}

/** The answers written so far for some tool calls of one call, by tool call id. */
export async function findToolAnswers(
  c: PoolClient,
  tenantId: string,
  workflowId: string,
  toolCallIds: string[],
): Promise<Map<string, { result: string | null; error: string | null }>> {
  const { rows } = await c.query<{ tool_call_id: string; result: string | null; error: string | null }>(
    `select tool_call_id, result, error from call_tool_calls
     where tenant_id = $1 and workflow_id = $2 and tool_call_id = any($3::text[])`,
    [tenantId, workflowId, toolCallIds],
  );
  return new Map(rows.map((r) => [r.tool_call_id, { result: r.result, error: r.error }]));
}

/** Writes the row and (only when this write made it) its audit row and wake-up; false if it was there already. */
export async function saveToolCall(c: PoolClient, row: ToolCallRow, source: AuditEntry['source']): Promise<boolean> {
  // The row may be written late (a worker crashed after answering): it keeps the call's time.
  const { rowCount } = await c.query(
    `insert into call_tool_calls (tenant_id, workflow_id, tool_call_id, name, arguments, result, error, latency_ms, created_at, contact_id, appointment_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce(to_timestamp($9::double precision / 1000), now()), $10, $11)
     on conflict do nothing`,
    [
      row.tenantId,
      row.workflowId,
      row.toolCallId,
      row.name,
      JSON.stringify(row.args ?? {}),
      row.result,
      row.error,
      Math.max(0, Math.round(row.latencyMs)),
      row.at ?? null,
      row.contactId ?? null,
      row.appointmentId ?? null,
    ],
  );
  if (!rowCount) return false;
  await c.query('select pg_notify($1, $2)', [
    TOOL_ANSWER_CHANNEL,
    toolAnswerKey(row.tenantId, row.workflowId, row.toolCallId),
  ]);
  // Rule 4: every tool call in the audit log too (once, even if the writer is retried).
  await insertAudit(c, {
    tenantId: row.tenantId,
    workflowId: row.workflowId,
    tool: `voice.${row.name}`,
    params: z
      .record(z.string(), z.unknown())
      .catch({ arguments: row.args })
      .parse(row.args ?? {}),
    status: row.error === null ? 'ok' : 'error',
    durationMs: Math.max(0, Math.round(row.latencyMs)),
    source,
    ...(row.error !== null ? { error: row.error } : {}),
  });
  return true;
}
