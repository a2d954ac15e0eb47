import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import type { Logger } from '../../lib/logger.js';
import { getAgent } from '../../domain/agents/store.js';
import type { CrmDeps } from '../../domain/crm/callerLookup.js';
import {
  CONSENT_TEXT,
  findWidget,
  getLead,
  getWidget,
  insertLead,
  putWidget,
  setLeadContact,
  type Widget,
  type WidgetLead,
  type WidgetSettings,
} from '../../domain/widgets.js';
import type { ChatReply } from '../../workflows/conversation.contract.js';
import { AttemptLimiter } from '../users/attempts.js';
import { MessageId, type ChatDeps, type PreparedTurn } from './agents.js';
import { runCrmWrite } from './crmRecords.js';
import { badInput, conflict, forbidden, notFound, ServiceError } from './errors.js';

/**
 * The embeddable website chat. Owners set it up (`GET/PUT /v1/widget`); its public side is
 * unauthenticated, so every request is checked here: the widget must be enabled, the page it runs
 * on one of its exact allowed origins (and a browser's `Origin` that page or the widget's own frame),
 * the visitor within the widget's and their address's rate limits, and — after the lead gate — the
 * bearer of a short-lived token we signed for that widget, lead and page. A visitor's chat is a
 * conversation workflow with origin `widget`: knowledge tools only (workflows/conversation.state.ts,
 * enforced again in the activities), a smaller budget, and its transcript noted on the lead's contact.
 */

export interface WidgetDeps {
  pool: Pool;
  chat: ChatDeps;
  crm: { temporal: ChatDeps['temporal']; taskQueue: string; crm: CrmDeps };
  /** Signs visitor tokens; derived from the master key, so every replica verifies every other's. */
  tokenKey: Buffer;
  log: Logger;
  limits?: Partial<WidgetLimits>;
}

export interface WidgetLimits {
  /** Public requests per widget per minute (all visitors together). */
  perWidgetPerMinute: number;
  /** Public requests per visitor address per widget per minute. */
  perVisitorPerMinute: number;
  /** Leads (gate submissions) per visitor address per widget per hour. */
  leadsPerVisitorPerHour: number;
}
export const DEFAULT_WIDGET_LIMITS: WidgetLimits = {
  perWidgetPerMinute: 600,
  perVisitorPerMinute: 30,
  leadsPerVisitorPerHour: 5,
};

/** How long a visitor's token lasts; a visitor back after that passes the gate again. */
export const VISITOR_TOKEN_TTL_MS = 2 * 60 * 60_000;
/** A visitor's chat spends less than an owner's: a stranger drives it. */
const VISITOR_TURN_LIMIT = 40;
const VISITOR_TOKEN_BUDGET = 200_000;

export const VISITOR_MESSAGE_LIMIT = 2000;
export const VisitorMessage = z.strictObject({
  text: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(VISITOR_MESSAGE_LIMIT, `at most ${VISITOR_MESSAGE_LIMIT} characters`),
  messageId: MessageId.optional(),
});
export const LeadGate = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: z.email().max(320),
  consent: z.literal(true).describe('the visitor ticked the consent box (its words: `consentText`)'),
});

export const WidgetPublicConfig = z.object({
  agent: z.object({ name: z.string(), colour: z.string() }),
  greeting: z.string(),
  consentText: z.string(),
});
export const VisitorSession = z.object({ token: z.string(), expiresAt: z.string(), contactSaved: z.boolean() });
export const VisitorReply = z.object({
  status: z.enum(['answered', 'awaiting_confirmation', 'stopped']),
  reply: z.object({ id: z.string(), text: z.string() }).nullable(),
  stopReason: z.string().nullable(),
});

/** What a visitor sees of a turn: the answer, not the tools or the tokens. */
export const visitorReply = (r: ChatReply): z.infer<typeof VisitorReply> => ({
  status: r.status,
  reply: r.reply,
  stopReason: r.stopReason,
});

// --- the owner's side ------------------------------------------------------------------------

export async function widgetOf(pool: Pool, tenantId: string): Promise<Widget | undefined> {
  return withTenant(pool, tenantId, (c) => getWidget(c, tenantId));
}

export async function saveWidget(pool: Pool, tenantId: string, s: WidgetSettings): Promise<Widget> {
  return withTenant(pool, tenantId, async (c) => {
    const agent = await getAgent(c, tenantId, s.agent);
    if (!agent) throw badInput('agent', `no agent '${s.agent}'`);
    if (s.enabled && !agent.enabled) throw badInput('agent', `agent '${s.agent}' is disabled`);
    if (s.enabled && !s.allowedOrigins.length)
      throw badInput('allowedOrigins', 'name at least one origin the widget may run on');
    return putWidget(c, tenantId, s);
  });
}

/** The embed snippet for the widget, at our public URL. */
export const embedSnippet = (baseUrl: string, id: string) => `<script src="${baseUrl}/widget/${id}.js" async></script>`;

// --- the public side -------------------------------------------------------------------------

/** Where a public request comes from: the widget's page, our own frame, the visitor's address. */
export interface PublicRequest {
  widgetId: string;
  /** The page the widget runs on, as the frame reports it (`x-widget-origin`, or the frame's `origin`). */
  pageOrigin: string | undefined;
  /** The browser's `Origin` header, when it sent one. */
  origin: string | undefined;
  /** Our own origin (the frame's), for requests the frame makes. */
  selfOrigin: string;
  ip: string;
}

export class WidgetGate {
  private readonly limits: WidgetLimits;
  private readonly perWidget: AttemptLimiter;
  private readonly perVisitor: AttemptLimiter;
  private readonly leads: AttemptLimiter;

  constructor(private readonly deps: WidgetDeps) {
    this.limits = { ...DEFAULT_WIDGET_LIMITS, ...deps.limits };
    this.perWidget = new AttemptLimiter({ max: this.limits.perWidgetPerMinute, windowMs: 60_000, capacity: 10_000 });
    this.perVisitor = new AttemptLimiter({
      max: this.limits.perVisitorPerMinute,
      windowMs: 60_000,
      capacity: 50_000,
    });
    this.leads = new AttemptLimiter({ max: this.limits.leadsPerVisitorPerHour, windowMs: 3_600_000, capacity: 50_000 });
  }

  /**
   * The widget a public request may use: enabled, its page among the allowed origins, a browser's
   * Origin that page or our frame (its rate limits are counted before, by `count`).
   */
  async admit(r: PublicRequest, opts: { pageRequired: boolean }): Promise<Widget> {
    const widget = await findWidget(this.deps.pool, r.widgetId);
    if (!widget?.enabled) throw notFound(`no widget ${r.widgetId}`);
    const allowed = (o: string | undefined) => o !== undefined && widget.allowedOrigins.includes(o);
    if (opts.pageRequired && !allowed(r.pageOrigin)) throw forbidden('this widget does not run on this site');
    if (r.pageOrigin !== undefined && !allowed(r.pageOrigin)) throw forbidden('this widget does not run on this site');
    if (r.origin !== undefined && r.origin !== r.selfOrigin && !allowed(r.origin))
      throw forbidden('this widget does not run on this site');
    return widget;
  }

  /** One public request against the widget's, the address's and (for the gate) the leads' budgets. */
  count(widgetId: string, ip: string, opts: { lead: boolean }): void {
    this.spend(this.perWidget, widgetId);
    this.spend(this.perVisitor, `${widgetId}:${ip}`);
    if (opts.lead) this.spend(this.leads, `${widgetId}:${ip}`);
  }

  private spend(limiter: AttemptLimiter, key: string): void {
    const wait = limiter.blockedFor(key);
    if (wait > 0)
      throw new ServiceError(429, 'too many requests; try again later', undefined, new Date(Date.now() + wait * 1000));
    limiter.hit(key);
  }

  async config(widget: Widget): Promise<z.infer<typeof WidgetPublicConfig>> {
    const agent = await withTenant(this.deps.pool, widget.tenantId, (c) => getAgent(c, widget.tenantId, widget.agent));
    if (!agent?.enabled) throw conflict('the chat is not available right now');
    return { agent: { name: agent.name, colour: agent.colour }, greeting: widget.greeting, consentText: CONSENT_TEXT };
  }

  /**
   * The lead gate: the visitor's name, email and consent. Their contact is created or updated in
   * the tenant's CRM (a crmAction workflow on the tenant's own connection), the lead recorded with
   * its conversation, and a token issued for the chat. A CRM that is down does not keep the visitor
   * out: the lead is kept without a contact, and the log says why.
   */
  async openLead(
    widget: Widget,
    pageOrigin: string,
    gate: z.infer<typeof LeadGate>,
  ): Promise<z.infer<typeof VisitorSession>> {
    const { tenantId } = widget;
    const leadId = `wl_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    const conversationId = `web_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    await withTenant(this.deps.pool, tenantId, (c) =>
      insertLead(c, tenantId, {
        id: leadId,
        widgetId: widget.id,
        conversationId,
        name: gate.name,
        email: gate.email,
        pageOrigin,
        consentText: CONSENT_TEXT,
      }),
    );
    let contactSaved = false;
    try {
      const w = await runCrmWrite(
        this.deps.crm,
        { action: 'upsertContact', tenantId, email: gate.email, name: gate.name, tags: ['website chat'] },
        `widget-lead-${leadId}`,
      );
      if (w.result) {
        await withTenant(this.deps.pool, tenantId, (c) => setLeadContact(c, tenantId, leadId, w.result!.contactId));
        contactSaved = true;
      }
    } catch (err) {
      this.deps.log.warn({ err, tenantId, leadId }, 'website lead: the CRM contact was not saved');
    }
    const expiresAt = Date.now() + VISITOR_TOKEN_TTL_MS;
    return {
      token: this.sign({ t: tenantId, w: widget.id, l: leadId, o: pageOrigin, exp: expiresAt }),
      expiresAt: new Date(expiresAt).toISOString(),
      contactSaved,
    };
  }

  /** A visitor's message as the turn of their chat: the token must be ours, live, for this widget and page. */
  async visitorTurn(
    widget: Widget,
    pageOrigin: string,
    token: string | undefined,
    msg: z.infer<typeof VisitorMessage>,
  ): Promise<PreparedTurn> {
    const claims = token ? this.verify(token) : undefined;
    if (!claims || claims.w !== widget.id || claims.t !== widget.tenantId || claims.o !== pageOrigin)
      throw forbidden('start the chat with your name and email first');
    const { tenantId } = widget;
    const lead: WidgetLead | undefined = await withTenant(this.deps.pool, tenantId, (c) =>
      getLead(c, tenantId, claims.l),
    );
    if (!lead) throw forbidden('start the chat with your name and email first');
    const settings = this.deps.chat.settings;
    return {
      conversationId: lead.conversationId,
      workflowId: workflowIds.conversation(tenantId, lead.conversationId),
      messageId: msg.messageId ?? `msg_${randomUUID().replaceAll('-', '').slice(0, 20)}`,
      // A message sent again with its id (its answer lost) is answered from what was stored.
      resent: msg.messageId !== undefined,
      text: msg.text,
      start: {
        tenantId,
        conversationId: lead.conversationId,
        agentId: widget.agent,
        origin: 'widget',
        title: `Website: ${lead.name}`.slice(0, 120),
        settings: {
          ...settings,
          turnLimit: Math.min(settings.turnLimit, VISITOR_TURN_LIMIT),
          tokenBudget: Math.min(settings.tokenBudget, VISITOR_TOKEN_BUDGET),
        },
      },
    };
  }

  private sign(claims: VisitorClaims): string {
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  private verify(token: string): VisitorClaims | undefined {
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return undefined;
    const want = Buffer.from(this.mac(payload));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const parsed = VisitorClaims.safeParse(
      (() => {
        try {
          return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
        } catch {
          return undefined;
        }
      })(),
    );
    if (!parsed.success || parsed.data.exp < Date.now()) return undefined;
    return parsed.data;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.deps.tokenKey).update(payload).digest('base64url');
  }
}

const VisitorClaims = z.object({ t: z.string(), w: z.string(), l: z.string(), o: z.string(), exp: z.number() });
type VisitorClaims = z.infer<typeof VisitorClaims>;
