import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { asSystem, type Pool, type PoolClient } from '../lib/db.js';
import { AgentId } from './agents/store.js';
import { listMessages } from './agents/conversations.js';
import { KnowledgePath } from './knowledge/nodes.js';

/**
 * The embeddable website chat (sql/022_widgets.sql): one widget per tenant — its public id, the
 * persona it talks as, the exact origins allowed to embed it, a greeting and the part of the
 * knowledge base visitors' chats may read — and the leads who passed its gate.
 */

export const WIDGET_ID_PATTERN = /^wg_[a-z0-9]{16}$/;
export const WidgetId = z.string().regex(WIDGET_ID_PATTERN, 'expected a widget id like wg_0123456789abcdef');

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const TOP = '[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?';
const PORT = '(?::(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}))?';
/**
 * An exact web origin as a browser sends it: scheme, host, optional port; no path, no wildcard.
 * Hosts are lowercase names whose last label starts with a letter, or IPv4 addresses; no `--`
 * (no punycode), so whatever the pattern accepts, URL parsing keeps.
 */
export const WebOrigin = z
  .string()
  .max(200)
  .regex(
    new RegExp(`^(?!.*--)https?://(?:(?:${LABEL}\\.)*${TOP}|(?:${OCTET}\\.){3}${OCTET})${PORT}$`),
    'expected an exact origin like https://www.example.com (scheme, host, optional port; nothing after)',
  )
  // http://a:80 is sent as http://a: kept as browsers send it.
  .transform((s) => new URL(s).origin);

export const CONSENT_TEXT =
  'I agree that this business may store my name, email and this conversation, and contact me about my questions.';

export const WidgetSettings = z.strictObject({
  enabled: z.boolean(),
  agent: AgentId.describe('the persona visitors talk to'),
  allowedOrigins: z
    .array(WebOrigin)
    .max(20)
    .refine((a) => new Set(a).size === a.length, 'each origin once'),
  greeting: z.string().trim().max(500).default(''),
  knowledgeScope: z
    .union([z.literal('/'), KnowledgePath])
    .default('/public')
    .describe('visitors’ chats read only this part of the knowledge base'),
});
export type WidgetSettings = z.output<typeof WidgetSettings>;

export const Widget = z.object({
  id: z.string(),
  enabled: z.boolean(),
  agent: z.string(),
  allowedOrigins: z.array(z.string()),
  greeting: z.string(),
  knowledgeScope: z.string(),
  updatedAt: z.string(),
});
export type Widget = z.infer<typeof Widget> & { tenantId: string };

interface WidgetRow {
  tenant_id: string;
  id: string;
  enabled: boolean;
  agent_id: string;
  allowed_origins: string[];
  greeting: string;
  knowledge_scope: string;
  updated_at: Date;
}
const toWidget = (r: WidgetRow): Widget => ({
  tenantId: r.tenant_id,
  id: r.id,
  enabled: r.enabled,
  agent: r.agent_id,
  allowedOrigins: r.allowed_origins,
  greeting: r.greeting,
  knowledgeScope: r.knowledge_scope,
  updatedAt: r.updated_at.toISOString(),
});

const newWidgetId = () => `wg_${randomBytes(16).toString('hex').slice(0, 16)}`;

export async function getWidget(c: PoolClient, tenantId: string): Promise<Widget | undefined> {
  const { rows } = await c.query<WidgetRow>('select * from widgets where tenant_id = $1', [tenantId]);
  return rows[0] && toWidget(rows[0]);
}

/** Creates the tenant's widget (its public id once, for good) or changes its settings. */
export async function putWidget(c: PoolClient, tenantId: string, s: WidgetSettings): Promise<Widget> {
  const { rows } = await c.query<WidgetRow>(
    `insert into widgets (tenant_id, id, enabled, agent_id, allowed_origins, greeting, knowledge_scope)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (tenant_id) do update set enabled = $3, agent_id = $4, allowed_origins = $5, greeting = $6,
            knowledge_scope = $7, updated_at = now()
     returning *`,
    [tenantId, newWidgetId(), s.enabled, s.agent, s.allowedOrigins, s.greeting, s.knowledgeScope],
  );
  return toWidget(rows[0]!);
}

/**
 * A widget by its public id, whichever tenant's: a public request names only the widget, and the
 * widget names the tenant (so this one read crosses tenants, as webhook routing does).
 */
export async function findWidget(pool: Pool, id: string): Promise<Widget | undefined> {
  if (!WIDGET_ID_PATTERN.test(id)) return undefined;
  const { rows } = await asSystem(pool, (c) => c.query<WidgetRow>('select * from widgets where id = $1', [id]));
  return rows[0] && toWidget(rows[0]);
}

export interface WidgetLead {
  id: string;
  widgetId: string;
  conversationId: string;
  name: string;
  email: string;
  pageOrigin: string;
  contactId: string | null;
}

export async function insertLead(
  c: PoolClient,
  tenantId: string,
  l: Omit<WidgetLead, 'contactId'> & { consentText: string },
): Promise<void> {
  await c.query(
    `insert into widget_leads (tenant_id, id, widget_id, conversation_id, name, email, consent_text, page_origin)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [tenantId, l.id, l.widgetId, l.conversationId, l.name, l.email, l.consentText, l.pageOrigin],
  );
}

export async function setLeadContact(c: PoolClient, tenantId: string, leadId: string, contactId: string) {
  await c.query('update widget_leads set contact_id = $3 where tenant_id = $1 and id = $2', [
    tenantId,
    leadId,
    contactId,
  ]);
}

export async function getLead(c: PoolClient, tenantId: string, leadId: string): Promise<WidgetLead | undefined> {
  const { rows } = await c.query<{
    id: string;
    widget_id: string;
    conversation_id: string;
    name: string;
    email: string;
    page_origin: string;
    contact_id: string | null;
  }>('select * from widget_leads where tenant_id = $1 and id = $2', [tenantId, leadId]);
  const r = rows[0];
  return (
    r && {
      id: r.id,
      widgetId: r.widget_id,
      conversationId: r.conversation_id,
      name: r.name,
      email: r.email,
      pageOrigin: r.page_origin,
      contactId: r.contact_id,
    }
  );
}

/** What the conversation activities need of a visitor's chat; undefined for any other conversation. */
export interface VisitorChat {
  conversationId: string;
  leadId: string | null;
  name: string | null;
  email: string | null;
  pageOrigin: string | null;
  contactId: string | null;
  noteId: string | null;
  knowledgeScope: string;
}

export async function visitorChatOf(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
): Promise<VisitorChat | undefined> {
  const { rows } = await c.query<{
    lead_id: string | null;
    name: string | null;
    email: string | null;
    page_origin: string | null;
    contact_id: string | null;
    note_id: string | null;
    knowledge_scope: string | null;
  }>(
    `select l.id as lead_id, l.name, l.email, l.page_origin, l.contact_id, l.note_id, w.knowledge_scope
       from conversations v
       left join widget_leads l on l.tenant_id = v.tenant_id and l.conversation_id = v.id
       left join widgets w on w.tenant_id = v.tenant_id
      where v.tenant_id = $1 and v.id = $2 and v.origin = 'widget'`,
    [tenantId, conversationId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    conversationId,
    leadId: r.lead_id,
    name: r.name,
    email: r.email,
    pageOrigin: r.page_origin,
    contactId: r.contact_id,
    noteId: r.note_id,
    // A widget chat whose widget is gone reads the public part only.
    knowledgeScope: r.knowledge_scope ?? '/public',
  };
}

/** GHL notes are not unlimited: the chat's start and its latest part are kept when it is long. */
const NOTE_LIMIT = 15_000;

/** The note that carries a visitor's chat: who, from where, then each turn's question and answer. */
export async function visitorTranscript(c: PoolClient, tenantId: string, chat: VisitorChat): Promise<string> {
  const rows = await listMessages(c, tenantId, chat.conversationId, { limit: 2000, roles: ['user', 'assistant'] });
  // Per turn: the visitor's words and the agent's last message (earlier steps are tool calls).
  const turns = new Map<number, { asked?: string; answer?: string }>();
  for (const r of rows) {
    const t = turns.get(r.turn) ?? {};
    if (r.role === 'user') t.asked = r.text;
    else if (r.text.trim()) t.answer = r.text;
    turns.set(r.turn, t);
  }
  const head = `Website chat with ${chat.name ?? 'a visitor'} <${chat.email ?? '?'}> on ${chat.pageOrigin ?? '?'} (conversation ${chat.conversationId})`;
  const lines = [...turns.values()].flatMap((t) => [
    ...(t.asked ? [`Visitor: ${t.asked}`] : []),
    ...(t.answer ? [`Agent: ${t.answer}`] : []),
  ]);
  let body = [head, '', ...lines].join('\n');
  if (body.length > NOTE_LIMIT) body = `${body.slice(0, 1000)}\n…\n${body.slice(body.length - (NOTE_LIMIT - 1100))}`;
  return body;
}
