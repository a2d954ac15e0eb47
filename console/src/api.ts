/**
 * The console's one way to the server: our REST API, same origin, authenticated by the session
 * cookie (httpOnly, never visible here). Writes carry the CSRF token from the readable `sb_csrf`
 * cookie as `x-csrf-token`, as the API requires of cookie-authenticated requests.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function csrfToken(): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'sb_csrf') return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken();
    if (token) headers['x-csrf-token'] = token;
  }
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const message =
      parsed && typeof parsed === 'object' && 'message' in parsed
        ? String((parsed as { message: unknown }).message)
        : `${res.status} ${res.statusText}`;
    if (res.status === 401 && !path.startsWith('/v1/auth/')) window.dispatchEvent(new Event('sb:signed-out'));
    throw new ApiError(res.status, message, parsed);
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});

/** Query-string from the set values only. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

// --- What the API answers (the fields the console reads) ---

export interface Me {
  tenantId: string;
  keyId: string;
  scopes: string[];
  user?: { id: string; email: string; role: string };
  /** The platform admin viewing this tenant (its console session). */
  platformAdmin?: boolean;
}

export interface CallSummary {
  id: string;
  provider: 'vapi' | 'retell';
  direction: 'inbound' | 'outbound';
  providerCallId: string | null;
  phone: string | null;
  contactId: string | null;
  purpose: string | null;
  status: string;
  endedReason: string | null;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  cost: number | null;
  summary: string | null;
  sentiment: string | null;
  outcome: string | null;
  createdAt: string;
}

export interface CallDetail extends CallSummary {
  recordingUrl: string | null;
  nextAction: string | null;
  crmEffects: Record<string, unknown>;
  transcript: { seq: number; role: string; text: string; secondsFromStart: number | null }[];
  toolCalls: {
    id: string;
    name: string;
    arguments: unknown;
    result: string | null;
    error: string | null;
    latencyMs: number;
    at: string;
  }[];
  providerCallIds: string[];
  webUiUrl: string | null;
}

export interface CampaignListItem {
  id: string;
  name: string;
  status: string;
  leads: number;
  createdAt: string;
}

export interface RowError {
  row: number;
  field: string;
  message: string;
}

export interface ImportResult {
  imported: number;
  duplicates: number;
  errors: RowError[];
}

export interface Progress {
  id: string;
  name: string;
  goal: string;
  status: string;
  workflowId: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  leads: { total: number; byState: Record<string, number> };
  emails: { sentToday: number; sent: number };
  replies: number;
  meetingsBooked: number;
  pendingApprovals: number;
  engagement: Record<string, number>;
  costUsd: number;
  definition: Record<string, unknown>;
}

export interface LeadListItem {
  id: string;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  state: string;
  stepIndex: number | null;
}

export interface LeadTimeline {
  lead: LeadListItem & { contactId: string | null; timezone: string | null; brief: string | null };
  workflowId: string;
  emails: {
    sendKey: string;
    kind: string;
    stepIndex: number | null;
    subject: string;
    status: string;
    messageId: string | null;
    origin: string;
    sentAt: string | null;
  }[];
  events: { id: number; kind: string; stepIndex: number | null; data: unknown; at: string; recordedAt: string }[];
}

export interface Approval {
  id: string;
  campaignId: string;
  leadId: string;
  kind: 'email' | 'reply';
  stepIndex: number | null;
  status: 'pending' | 'approved' | 'edited' | 'rejected';
  to: string | null;
  draft: { subject: string; body: string };
  final: { subject: string; body: string } | null;
  note: string | null;
  createdAt: string;
  decidedAt: string | null;
}

export interface Connection {
  provider: 'ghl' | 'vapi' | 'retell' | 'sendgrid' | 'anthropic';
  state: 'connected' | 'broken' | 'missing';
  mode: 'live' | 'sandbox';
  via: 'oauth' | 'private_token' | 'api_key' | 'platform' | null;
  account: string | null;
  accountName: string | null;
  scopes: string[];
  secretHint: string | null;
  expiresAt: string | null;
  lastError: string | null;
  updatedAt: string | null;
}

export interface SyncStatus {
  state: 'never' | 'running' | 'completed' | 'failed';
  kind: 'full' | 'incremental' | null;
  reason: string | null;
  workflowId: string | null;
  pages: number;
  contacts: number;
  total: number | null;
  contactsPerS: number | null;
  etaS: number | null;
  removed: number | null;
  cachedContacts: number;
  highWater: string | null;
  lastFinishedAt: string | null;
  lastError: string | null;
}

export interface Contact {
  id: string;
  locationId: string;
  firstName: string | null;
  lastName: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  companyName: string | null;
  source: string | null;
  tags: string[];
  dnd: boolean;
  timezone: string | null;
}

export interface AuditRow {
  id: string;
  workflowId: string | null;
  activity: string | null;
  tool: string | null;
  params: unknown;
  status: 'ok' | 'error';
  durationMs: number;
  source: 'live' | 'cache' | 'sandbox';
  error: string | null;
  createdAt: string;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  keyPrefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TenantUser {
  id: string;
  email: string;
  role: 'owner' | 'operator' | 'viewer';
  createdAt: string;
}

export interface AgentInfo {
  id: string;
  name: string;
  role: string;
  colour: string;
  icon: string;
  enabled: boolean;
  tools: string[];
  confirmTools: string[];
  brief: { cron: string } | null;
}

export interface ConversationInfo {
  id: string;
  agent: string;
  title: string;
  origin: 'user' | 'brief' | 'agent' | 'widget';
  parentId: string | null;
  status: 'open' | 'closed';
  turns: number;
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
  createdAt: string;
  updatedAt: string;
}

export interface ChatMessage {
  seq: number;
  id: string;
  turn: number;
  role: 'user' | 'assistant' | 'tool' | 'summary';
  text: string;
  toolUses: { id: string; name: string; input: unknown }[];
  createdAt: string;
}

export interface ConnectedClient {
  clientId: string;
  clientName: string | null;
  users: { userId: string; email: string | null; scopes: string[]; connectedAt: string; expiresAt: string | null }[];
}

export interface WebsiteWidget {
  id: string;
  enabled: boolean;
  agent: string;
  allowedOrigins: string[];
  greeting: string;
  knowledgeScope: string;
  updatedAt: string;
  snippet: string;
}
