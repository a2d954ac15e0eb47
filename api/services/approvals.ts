import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import { approvalDecidedSignal } from '../../workflows/leadOutreach.contract.js';
import { conflict, notFound } from './errors.js';

/** Review mode: drafts held for a person, and their decision (which the lead's workflow receives by signal). */

export const Approval = z.object({
  id: z.string(),
  campaignId: z.string(),
  leadId: z.string(),
  kind: z.enum(['email', 'reply']),
  stepIndex: z.number().nullable(),
  status: z.enum(['pending', 'approved', 'edited', 'rejected']),
  to: z.string().nullable(),
  draft: z.object({ subject: z.string(), body: z.string() }),
  final: z.object({ subject: z.string(), body: z.string() }).nullable(),
  note: z.string().nullable(),
  createdAt: z.string(),
  decidedAt: z.string().nullable(),
});
export type Approval = z.infer<typeof Approval>;

interface ApprovalRow {
  id: string;
  campaign_id: string;
  lead_id: string;
  kind: 'email' | 'reply';
  step_index: number | null;
  status: 'pending' | 'approved' | 'edited' | 'rejected';
  to_email: string | null;
  draft: { subject: string; body: string };
  final: { subject: string; body: string } | null;
  note: string | null;
  created_at: Date;
  decided_at: Date | null;
}
const toApproval = (r: ApprovalRow): Approval => ({
  id: r.id,
  campaignId: r.campaign_id,
  leadId: r.lead_id,
  kind: r.kind,
  stepIndex: r.step_index,
  status: r.status,
  to: r.to_email,
  draft: r.draft,
  final: r.final,
  note: r.note,
  createdAt: r.created_at.toISOString(),
  decidedAt: r.decided_at?.toISOString() ?? null,
});
const SELECT = `select a.id, a.campaign_id, a.lead_id, a.kind, a.step_index, a.status, s.to_email, a.draft, a.final, a.note, a.created_at, a.decided_at
  from campaign_approvals a left join email_sends s on s.tenant_id = a.tenant_id and s.send_key = a.send_key`;

/** A decision's fields, shared by the REST body and the `approval_decide` tool. */
export const DecisionFields = {
  decision: z.enum(['approve', 'edit', 'reject']),
  subject: z.string().trim().min(1).max(200).optional(),
  body: z.string().trim().min(1).max(20_000).optional(),
  note: z.string().trim().max(2000).optional(),
};
type DecisionShape = { decision: 'approve' | 'edit' | 'reject'; subject?: string; body?: string };
/** An edit needs new text; approve and reject take none. */
export const withDecisionRules = <T extends z.ZodType<DecisionShape>>(schema: T) =>
  schema
    .refine((d) => d.decision !== 'edit' || d.subject || d.body, {
      message: 'an edit needs a subject or a body',
      path: ['body'],
    })
    .refine((d) => d.decision === 'edit' || (!d.subject && !d.body), {
      message: 'subject and body are only taken with decision "edit"',
      path: ['decision'],
    });
const TEXT_FIELDS = { anyOf: [{ required: ['subject'] }, { required: ['body'] }] };
export const Decision = withDecisionRules(z.strictObject(DecisionFields)).meta({
  // The rules above, as the document states them.
  anyOf: [
    { properties: { decision: { enum: ['approve', 'reject'] } }, not: TEXT_FIELDS },
    { properties: { decision: { enum: ['edit'] } }, ...TEXT_FIELDS },
  ],
});
export type Decision = z.output<typeof Decision>;

export const ApprovalQuery = z.object({
  status: z.enum(['pending', 'approved', 'edited', 'rejected']).default('pending'),
  campaignId: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type ApprovalQuery = z.output<typeof ApprovalQuery>;

/** Drafts held for review, oldest first. */
export async function listApprovals(c: PoolClient, tenantId: string, q: ApprovalQuery): Promise<Approval[]> {
  const { rows } = await c.query<ApprovalRow>(
    `${SELECT} where a.tenant_id = $1 and a.status = $2 and ($3::text is null or a.campaign_id = $3) order by a.created_at limit $4`,
    [tenantId, q.status, q.campaignId ?? null, q.limit],
  );
  return rows.map(toApproval);
}

/** One held draft and who it is for (the review form shows both); undefined when the tenant has none by that id. */
export async function getApproval(
  c: PoolClient,
  tenantId: string,
  id: string,
): Promise<{ approval: Approval; lead: { name: string | null; email: string | null } } | undefined> {
  const { rows } = await c.query<ApprovalRow & { lead_name: string | null; lead_email: string | null }>(
    `${SELECT.replace(
      ' from campaign_approvals a',
      `, nullif(concat_ws(' ', l.first_name, l.last_name), '') as lead_name, l.email as lead_email from campaign_approvals a
  left join campaign_leads l on l.tenant_id = a.tenant_id and l.campaign_id = a.campaign_id and l.id = a.lead_id`,
    )} where a.tenant_id = $1 and a.id = $2`,
    [tenantId, id],
  );
  const row = rows[0];
  return row && { approval: toApproval(row), lead: { name: row.lead_name, email: row.lead_email } };
}

/**
 * Records a decision on a held draft (by the API key `decidedBy`) and tells the lead's workflow by
 * signal. Unknown → not found, already decided → conflict. A failed signal is returned, not thrown:
 * the decision stands and the workflow also reads it from Postgres.
 */
export async function decideApproval(
  deps: { pool: Pool; temporal: Client },
  tenantId: string,
  id: string,
  d: Decision,
  decidedBy: string,
): Promise<{ approval: Approval; signalError?: unknown }> {
  const status = ({ approve: 'approved', edit: 'edited', reject: 'rejected' } as const)[d.decision];
  const outcome = await withTenant(deps.pool, tenantId, async (c) => {
    const current = await c.query<ApprovalRow & { send_key: string }>(
      `${SELECT.replace('select a.id', 'select a.send_key, a.id')} where a.tenant_id = $1 and a.id = $2 for update of a`,
      [tenantId, id],
    );
    const row = current.rows[0];
    if (!row) return 'missing' as const;
    if (row.status !== 'pending') return { conflict: row, decided: undefined };
    const final =
      d.decision === 'reject' ? null : { subject: d.subject ?? row.draft.subject, body: d.body ?? row.draft.body };
    await c.query(
      `update campaign_approvals set status = $3, final = $4, note = $5, decided_by = $6, decided_at = now() where tenant_id = $1 and id = $2`,
      [tenantId, row.id, status, final, d.note ?? null, decidedBy],
    );
    if (d.decision === 'reject') {
      await c.query(
        `update email_sends set status = 'rejected' where tenant_id = $1 and send_key = $2 and status = 'drafted'`,
        [tenantId, row.send_key],
      );
    }
    if (d.decision === 'edit') {
      await c.query(
        `update email_sends set subject = $3, body = $4, origin = 'edited' where tenant_id = $1 and send_key = $2 and status = 'drafted'`,
        [tenantId, row.send_key, final!.subject, final!.body],
      );
    }
    return {
      conflict: undefined,
      decided: { ...row, status, final, note: d.note ?? null, decided_at: new Date() } as ApprovalRow,
    };
  });
  if (outcome === 'missing') throw notFound(`no approval ${id}`);
  if (outcome.conflict) throw conflict(`approval ${outcome.conflict.id} was already ${outcome.conflict.status}`);
  const decided = outcome.decided!;
  const signalError = await deps.temporal.workflow
    .getHandle(workflowIds.leadOutreach(tenantId, decided.campaign_id, decided.lead_id))
    .signal(approvalDecidedSignal, { approvalId: decided.id, decision: status })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  return { approval: toApproval(decided), ...(signalError ? { signalError } : {}) };
}
