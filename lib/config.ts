import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { parseMasterKey } from './secrets.js';
import { TENANT_ID_PATTERN } from './ids.js';
import { DEFAULT_QUOTA_LIMITS, type QuotaLimits } from '../domain/quotas.js';

/**
 * Every setting comes from the environment (optionally seeded from a `.env` file) and is parsed
 * here, once, at start. A bad value stops the process with one readable line per problem.
 * `.env.example` documents each variable; keep the two in step.
 */

type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

/** One env variable: a raw string (or absent) turned into a typed value, or a readable complaint. */
function envVar<T>(parse: (raw: string) => Parsed<T>) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const result = parse(raw.trim());
      if (result.ok) return result.value;
      ctx.addIssue({ code: 'custom', message: `expected ${result.expected}, got ${JSON.stringify(raw)}` });
      return z.NEVER;
    });
}

const text = () => envVar((raw) => ({ ok: true, value: raw }));

const port = () =>
  envVar((raw) => {
    const n = Number(raw);
    return Number.isInteger(n) && n >= 0 && n <= 65535 && /^\d+$/.test(raw)
      ? { ok: true, value: n }
      : { ok: false, expected: 'a port number (0-65535)' };
  });

const positiveInt = (max = 1_000_000) =>
  envVar((raw) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && n >= 1 && n <= max
      ? { ok: true, value: n }
      : { ok: false, expected: `a whole number from 1 to ${max}` };
  });

const nonNegativeInt = (max: number) =>
  envVar((raw) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && n <= max
      ? { ok: true, value: n }
      : { ok: false, expected: `a whole number from 0 to ${max}` };
  });

const bool = () =>
  envVar((raw) => {
    const v = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return { ok: true, value: true };
    if (['0', 'false', 'no', 'off'].includes(v)) return { ok: true, value: false };
    return { ok: false, expected: 'true or false' };
  });

const hostPort = () =>
  envVar((raw) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
    return m && Number(m[2]) <= 65535 ? { ok: true, value: raw } : { ok: false, expected: 'host:port' };
  });

const httpUrl = () =>
  envVar((raw) => {
    try {
      const u = new URL(raw);
      if (u.protocol === 'http:' || u.protocol === 'https:') return { ok: true, value: raw.replace(/\/+$/, '') };
    } catch {
      /* fall through */
    }
    return { ok: false, expected: 'an http(s) URL' };
  });

const postgresUrl = () =>
  envVar((raw) => {
    try {
      const u = new URL(raw);
      if (u.protocol === 'postgres:' || u.protocol === 'postgresql:') return { ok: true, value: raw };
    } catch {
      /* fall through */
    }
    return { ok: false, expected: 'a postgres:// URL' };
  });

const logLevel = () =>
  envVar((raw) => {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
    const v = raw.toLowerCase();
    return (levels as readonly string[]).includes(v)
      ? { ok: true, value: v as (typeof levels)[number] }
      : { ok: false, expected: `one of ${levels.join(', ')}` };
  });

const secretKey = (minLength: number) =>
  envVar((raw) =>
    raw.length >= minLength ? { ok: true, value: raw } : { ok: false, expected: `at least ${minLength} characters` },
  );

/** A PEM public key given inline (literal `\n` allowed, for one-line env files). */
const pemPublicKey = () =>
  envVar((raw) => {
    const pem = raw.replaceAll('\\n', '\n');
    return /-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.test(pem)
      ? { ok: true, value: pem }
      : { ok: false, expected: 'a PEM public key (-----BEGIN PUBLIC KEY----- …)' };
  });

/** Comma-separated hostnames without ports (`[::1]` for IPv6), or `*` for any. */
const hostList = () =>
  envVar((raw) => {
    const items = raw
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    const ok =
      items.length > 0 &&
      items.every((h) => h === '*' || /^(\[[0-9a-f:]+\]|[a-z0-9.-]+|[a-z][a-z0-9+.-]*:\/\/\*)$/.test(h));
    return ok
      ? { ok: true, value: items }
      : { ok: false, expected: 'comma-separated hostnames without scheme or port (or *)' };
  });

/**
 * Which proxies' X-Forwarded-For to believe (the client IP behind them keys sign-in limits and
 * logs): a number of hops, or comma-separated addresses / CIDR ranges of the proxies. Unset: none.
 */
const trustProxy = () =>
  envVar<number | string[]>((raw) => {
    if (/^\d{1,2}$/.test(raw) && Number(raw) >= 1) return { ok: true, value: Number(raw) };
    const items = raw
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const ok =
      items.length > 0 &&
      items.every((h) => /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)(\/\d{1,3})?$/.test(h));
    return ok
      ? { ok: true, value: items }
      : { ok: false, expected: 'a number of proxy hops (1-99) or comma-separated proxy addresses / CIDR ranges' };
  });

const EnvSchema = z.object({
  LOG_LEVEL: logLevel(),
  SWITCHBOARD_DATA_DIR: text(),
  API_HOST: text(),
  API_PORT: port(),
  API_RATE_LIMIT_PER_MINUTE: positiveInt(),
  API_TRUST_PROXY: trustProxy(),
  READY_PROBE_TIMEOUT_MS: positiveInt(120_000),
  SWITCHBOARD_PUBLIC_URL: httpUrl(),
  SWITCHBOARD_ADMIN_KEY: secretKey(24),
  SWITCHBOARD_MASTER_KEY: envVar((raw) => {
    const key = parseMasterKey(raw);
    return key ? { ok: true, value: key } : { ok: false, expected: '32 bytes as 64 hex characters or base64' };
  }),
  MCP_ALLOWED_HOSTS: hostList(),
  MCP_ALLOWED_ORIGINS: hostList(),
  SWITCHBOARD_API_KEY: text(),
  DATABASE_URL: postgresUrl(),
  DATABASE_POOL_SIZE: positiveInt(500),
  EMBEDDED_POSTGRES_PORT: port(),
  TEMPORAL_ADDRESS: hostPort(),
  TEMPORAL_NAMESPACE: text(),
  TEMPORAL_TASK_QUEUE: text(),
  TEMPORAL_TLS: bool(),
  TEMPORAL_TLS_CERT_PATH: text(),
  TEMPORAL_TLS_KEY_PATH: text(),
  TEMPORAL_TLS_CA_PATH: text(),
  TEMPORAL_TLS_SERVER_NAME: text(),
  TEMPORAL_API_KEY: text(),
  TEMPORAL_UI_URL: httpUrl(),
  TEMPORAL_CLI_PATH: text(),
  TEMPORAL_DEV_PORT: port(),
  TEMPORAL_UI_PORT: port(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt(10_000),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: positiveInt(10_000),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt(10_000),
  WORKER_MAX_CACHED_WORKFLOWS: positiveInt(100_000),
  SANDBOX_PORT: port(),
  SWITCHBOARD_PLATFORM_TENANT: envVar((raw) =>
    TENANT_ID_PATTERN.test(raw)
      ? { ok: true, value: raw }
      : { ok: false, expected: 'a tenant id (lowercase letters, digits, dashes)' },
  ),
  PROVIDERS_MODE: envVar((raw) =>
    raw === 'auto' || raw === 'live' ? { ok: true, value: raw } : { ok: false, expected: 'auto or live' },
  ),
  GHL_API_TOKEN: text(),
  GHL_BASE_URL: httpUrl(),
  GHL_OAUTH_CLIENT_ID: text(),
  GHL_OAUTH_CLIENT_SECRET: text(),
  GHL_OAUTH_AUTHORIZE_URL: httpUrl(),
  GHL_OAUTH_SCOPES: text(),
  GHL_RATE_LIMIT_BURST: nonNegativeInt(100_000),
  GHL_WEBHOOK_PUBLIC_KEY: pemPublicKey(),
  GHL_WEBHOOK_ED25519_PUBLIC_KEY: pemPublicKey(),
  VAPI_API_KEY: text(),
  VAPI_BASE_URL: httpUrl(),
  RETELL_API_KEY: text(),
  RETELL_BASE_URL: httpUrl(),
  ANTHROPIC_API_KEY: text(),
  ANTHROPIC_BASE_URL: httpUrl(),
  ANTHROPIC_MODEL: text(),
  SENDGRID_API_KEY: text(),
  SENDGRID_BASE_URL: httpUrl(),
  QUOTA_CALLS_PER_DAY: nonNegativeInt(1_000_000_000),
  QUOTA_SMS_PER_DAY: nonNegativeInt(1_000_000_000),
  QUOTA_EMAILS_PER_DAY: nonNegativeInt(1_000_000_000),
  QUOTA_CLAUDE_TOKENS_PER_DAY: nonNegativeInt(1_000_000_000),
  QUOTA_CONTACT_ANALYSES_PER_HOUR: nonNegativeInt(1_000_000_000),
  AGENT_MAX_TOOL_STEPS: positiveInt(50),
  AGENT_TURN_LIMIT: positiveInt(100_000),
  AGENT_TOKEN_BUDGET: positiveInt(1_000_000_000),
  AGENT_CONFIRM_TIMEOUT_SECONDS: positiveInt(7 * 86_400),
  AGENT_IDLE_TIMEOUT_MINUTES: positiveInt(30 * 1440),
  AGENT_CONTINUE_AS_NEW_TURNS: positiveInt(10_000),
  SENDGRID_WEBHOOK_PUBLIC_KEY: envVar((raw) => {
    const pem = raw.replaceAll('\\n', '\n');
    return pem.includes('BEGIN PUBLIC KEY') || /^[A-Za-z0-9+/]{40,}={0,2}$/.test(raw)
      ? { ok: true, value: pem }
      : { ok: false, expected: 'the Event Webhook verification key (base64, as SendGrid shows it, or PEM)' };
  }),
});

export const providerNames = ['ghl', 'vapi', 'retell', 'anthropic', 'sendgrid'] as const;
export type ProviderName = (typeof providerNames)[number];

export interface ProviderConfig {
  /**
   * `live` when the provider's credential is set (or PROVIDERS_MODE=live: tenants bring their own
   * keys), else `sandbox` (the local simulator).
   */
  mode: 'live' | 'sandbox';
  baseUrl: string;
  /** Credential for the live provider; the sandbox accepts any non-empty token. */
  apiKey: string;
}

export interface TemporalConfig {
  /** Unset: spawn the Temporal CLI dev server under the data directory. */
  address: string | undefined;
  namespace: string;
  taskQueue: string;
  tls: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string } | undefined;
  apiKey: string | undefined;
  uiUrl: string | undefined;
  cliPath: string | undefined;
  devPort: number;
  uiPort: number;
}

export interface Config {
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  dataDir: string;
  api: {
    host: string;
    port: number;
    rateLimitPerMinute: number;
    readyProbeTimeoutMs: number;
    /** API_TRUST_PROXY: proxy hops, or the proxies' addresses / CIDR ranges. */
    trustProxy?: number | string[];
  };
  /** Where Vapi / Retell reach our webhooks (outbound calls name it); unset: the API's own address. */
  publicUrl: string | undefined;
  /**
   * The MCP adapter: Host and Origin allowlists for /mcp (DNS-rebinding protection; `*` = any), and
   * the API key the stdio server (`npm run mcp`) acts as.
   */
  mcp: { allowedHosts: string[]; allowedOrigins: string[]; apiKey: string | undefined };
  adminKey: string | undefined;
  /** Seals tenants' provider secrets; unset: generated at first start into `<data dir>/master-key`. */
  masterKey: Buffer | undefined;
  database: { url: string | undefined; poolSize: number; embeddedPort: number };
  temporal: TemporalConfig;
  worker: {
    maxConcurrentActivities: number;
    maxConcurrentLocalActivities: number;
    maxConcurrentWorkflowTasks: number;
    maxCachedWorkflows: number;
  };
  sandboxPort: number;
  providers: Record<ProviderName, ProviderConfig>;
  /**
   * The one tenant the providers' keys above serve (a self-hosted single business); unset: the
   * tenant the migrations recorded, or the demo tenant on the keyless sandbox. Every other tenant
   * uses its own connections.
   */
  platformTenant: string | undefined;
  /** GoHighLevel Marketplace OAuth app; unset on live GHL: tenants connect with Private Integration Tokens only. */
  ghlOAuth: { clientId: string; clientSecret: string; authorizeUrl: string; scopes: string[] } | undefined;
  /** Claude model for analyses; unset: the client's default (providers/anthropic.ts). */
  anthropicModel: string | undefined;
  /** GoHighLevel requests per location per 10 s shared by all our processes; 0 = no budget. */
  ghlRateLimitBurst: number;
  /** Keys GHL signs webhooks with (`x-wh-signature` RSA, `x-ghl-signature` Ed25519); sandbox: fetched from it. */
  ghlWebhookKeys: { rsa: string | undefined; ed25519: string | undefined };
  /** Verifies SendGrid Event Webhook signatures (ECDSA P-256); sandbox: fetched from it. */
  sendgridWebhookKey: string | undefined;
  /** Each tenant's quotas on paid actions unless the platform admin set others (domain/quotas.ts). */
  quotas: QuotaLimits;
  /** Persona agents' conversations: limits and timeouts each conversation workflow runs with. */
  agents: AgentConversationSettings;
}

export const DEFAULT_AGENT_SETTINGS: AgentConversationSettings = {
  maxToolSteps: 6,
  turnLimit: 500,
  tokenBudget: 1_000_000,
  confirmTimeoutMs: 900_000,
  idleTimeoutMs: 3_600_000,
  continueAsNewEvery: 20,
};

/** Mirrors workflows/conversation.contract.ts ConversationSettings (kept apart: config is not workflow code). */
export interface AgentConversationSettings {
  maxToolSteps: number;
  turnLimit: number;
  tokenBudget: number;
  confirmTimeoutMs: number;
  idleTimeoutMs: number;
  continueAsNewEvery: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** What the front office does in a tenant's GHL location: read and write contacts, calendars, messages, deals. */
const DEFAULT_GHL_SCOPES =
  'contacts.readonly contacts.write calendars.readonly calendars/events.write conversations/message.write ' +
  'opportunities.readonly opportunities.write locations.readonly';

const liveBaseUrls: Record<ProviderName, string> = {
  ghl: 'https://services.leadconnectorhq.com',
  vapi: 'https://api.vapi.ai',
  retell: 'https://api.retellai.com',
  anthropic: 'https://api.anthropic.com',
  sendgrid: 'https://api.sendgrid.com',
};

/** Loopback names, plus the API's own host when it listens on a specific name or address. */
function localhostNames(apiHost: string | undefined): string[] {
  const names = ['localhost', '127.0.0.1', '[::1]'];
  const own = apiHost?.toLowerCase();
  if (own && !['0.0.0.0', '::', '[::]'].includes(own))
    names.push(own.includes(':') && !own.startsWith('[') ? `[${own}]` : own);
  return [...new Set(names)];
}

/** Parses the given environment into a Config, or throws a ConfigError listing every problem. */
export function parseConfig(env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (Boolean(e.TEMPORAL_TLS_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_KEY_PATH)) {
    problems.push('TEMPORAL_TLS_CERT_PATH: client certificate and TEMPORAL_TLS_KEY_PATH must be set together');
  }
  for (const [name, file] of [
    ['TEMPORAL_TLS_CERT_PATH', e.TEMPORAL_TLS_CERT_PATH],
    ['TEMPORAL_TLS_KEY_PATH', e.TEMPORAL_TLS_KEY_PATH],
    ['TEMPORAL_TLS_CA_PATH', e.TEMPORAL_TLS_CA_PATH],
  ] as const) {
    if (file && !existsSync(path.resolve(cwd, file)))
      problems.push(`${name}: file not found, got ${JSON.stringify(file)}`);
  }
  if (problems.length) throw new ConfigError(problems);

  const sandboxPort = e.SANDBOX_PORT ?? 3100;
  const allLive = e.PROVIDERS_MODE === 'live';
  const provider = (name: ProviderName, key: string | undefined, baseUrl: string | undefined): ProviderConfig =>
    key || allLive
      ? { mode: 'live', baseUrl: baseUrl ?? liveBaseUrls[name], apiKey: key ?? '' }
      : { mode: 'sandbox', baseUrl: `http://127.0.0.1:${sandboxPort}/${name}`, apiKey: `sandbox-${name}-key` };
  const ghl = provider('ghl', e.GHL_API_TOKEN, e.GHL_BASE_URL);
  const ghlOAuth =
    e.GHL_OAUTH_CLIENT_ID && e.GHL_OAUTH_CLIENT_SECRET
      ? { clientId: e.GHL_OAUTH_CLIENT_ID, clientSecret: e.GHL_OAUTH_CLIENT_SECRET }
      : ghl.mode === 'sandbox'
        ? { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' }
        : undefined;

  const useTls = e.TEMPORAL_TLS ?? Boolean(e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_API_KEY);
  return {
    logLevel: e.LOG_LEVEL ?? 'info',
    dataDir: path.resolve(cwd, e.SWITCHBOARD_DATA_DIR ?? '.data'),
    api: {
      host: e.API_HOST ?? '127.0.0.1',
      port: e.API_PORT ?? 3000,
      rateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE ?? 600,
      trustProxy: e.API_TRUST_PROXY,
      readyProbeTimeoutMs: e.READY_PROBE_TIMEOUT_MS ?? 5000,
    },
    publicUrl: e.SWITCHBOARD_PUBLIC_URL?.replace(/\/+$/, ''),
    mcp: {
      allowedHosts: e.MCP_ALLOWED_HOSTS ?? localhostNames(e.API_HOST),
      allowedOrigins: e.MCP_ALLOWED_ORIGINS ?? localhostNames(e.API_HOST),
      apiKey: e.SWITCHBOARD_API_KEY,
    },
    adminKey: e.SWITCHBOARD_ADMIN_KEY,
    masterKey: e.SWITCHBOARD_MASTER_KEY,
    database: {
      url: e.DATABASE_URL,
      poolSize: e.DATABASE_POOL_SIZE ?? 20,
      embeddedPort: e.EMBEDDED_POSTGRES_PORT ?? 54329,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: e.TEMPORAL_TASK_QUEUE ?? 'switchboard',
      tls: useTls
        ? {
            certPath: e.TEMPORAL_TLS_CERT_PATH,
            keyPath: e.TEMPORAL_TLS_KEY_PATH,
            caPath: e.TEMPORAL_TLS_CA_PATH,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
      apiKey: e.TEMPORAL_API_KEY,
      uiUrl: e.TEMPORAL_UI_URL,
      cliPath: e.TEMPORAL_CLI_PATH,
      devPort: e.TEMPORAL_DEV_PORT ?? 7233,
      uiPort: e.TEMPORAL_UI_PORT ?? 8233,
    },
    worker: {
      maxConcurrentActivities: e.WORKER_MAX_CONCURRENT_ACTIVITIES ?? 100,
      maxConcurrentLocalActivities: e.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES ?? 100,
      maxConcurrentWorkflowTasks: e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS ?? 40,
      maxCachedWorkflows: e.WORKER_MAX_CACHED_WORKFLOWS ?? 1000,
    },
    sandboxPort,
    ghlRateLimitBurst: e.GHL_RATE_LIMIT_BURST ?? 100,
    quotas: {
      calls_per_day: e.QUOTA_CALLS_PER_DAY ?? DEFAULT_QUOTA_LIMITS.calls_per_day,
      sms_per_day: e.QUOTA_SMS_PER_DAY ?? DEFAULT_QUOTA_LIMITS.sms_per_day,
      emails_per_day: e.QUOTA_EMAILS_PER_DAY ?? DEFAULT_QUOTA_LIMITS.emails_per_day,
      claude_tokens_per_day: e.QUOTA_CLAUDE_TOKENS_PER_DAY ?? DEFAULT_QUOTA_LIMITS.claude_tokens_per_day,
      contact_analyses_per_hour: e.QUOTA_CONTACT_ANALYSES_PER_HOUR ?? DEFAULT_QUOTA_LIMITS.contact_analyses_per_hour,
    },
    agents: {
      maxToolSteps: e.AGENT_MAX_TOOL_STEPS ?? DEFAULT_AGENT_SETTINGS.maxToolSteps,
      turnLimit: e.AGENT_TURN_LIMIT ?? DEFAULT_AGENT_SETTINGS.turnLimit,
      tokenBudget: e.AGENT_TOKEN_BUDGET ?? DEFAULT_AGENT_SETTINGS.tokenBudget,
      confirmTimeoutMs: e.AGENT_CONFIRM_TIMEOUT_SECONDS
        ? e.AGENT_CONFIRM_TIMEOUT_SECONDS * 1000
        : DEFAULT_AGENT_SETTINGS.confirmTimeoutMs,
      idleTimeoutMs: e.AGENT_IDLE_TIMEOUT_MINUTES
        ? e.AGENT_IDLE_TIMEOUT_MINUTES * 60_000
        : DEFAULT_AGENT_SETTINGS.idleTimeoutMs,
      continueAsNewEvery: e.AGENT_CONTINUE_AS_NEW_TURNS ?? DEFAULT_AGENT_SETTINGS.continueAsNewEvery,
    },
    platformTenant: e.SWITCHBOARD_PLATFORM_TENANT,
    ghlOAuth: ghlOAuth && {
      ...ghlOAuth,
      authorizeUrl:
        e.GHL_OAUTH_AUTHORIZE_URL ??
        (ghl.mode === 'sandbox'
          ? `${ghl.baseUrl}/oauth/chooselocation`
          : 'https://marketplace.gohighlevel.com/oauth/chooselocation'),
      scopes: (e.GHL_OAUTH_SCOPES ?? DEFAULT_GHL_SCOPES).split(/[\s,]+/).filter(Boolean),
    },
    anthropicModel: e.ANTHROPIC_MODEL,
    ghlWebhookKeys: { rsa: e.GHL_WEBHOOK_PUBLIC_KEY, ed25519: e.GHL_WEBHOOK_ED25519_PUBLIC_KEY },
    sendgridWebhookKey: e.SENDGRID_WEBHOOK_PUBLIC_KEY,
    providers: {
      ghl,
      vapi: provider('vapi', e.VAPI_API_KEY, e.VAPI_BASE_URL),
      retell: provider('retell', e.RETELL_API_KEY, e.RETELL_BASE_URL),
      anthropic: provider('anthropic', e.ANTHROPIC_API_KEY, e.ANTHROPIC_BASE_URL),
      sendgrid: provider('sendgrid', e.SENDGRID_API_KEY, e.SENDGRID_BASE_URL),
    },
  };
}

/** Reads `.env` (if present; real env wins) and parses. Used by every entry point. */
export function loadConfig(cwd = process.cwd()): Config {
  const envFile = path.join(cwd, '.env');
  const fromFile = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};
  return parseConfig({ ...fromFile, ...process.env }, cwd);
}

/** Entry points call this: a ConfigError prints its lines and exits 1 instead of a stack trace. */
export function loadConfigOrExit(cwd = process.cwd()): Config {
  try {
    return loadConfig(cwd);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
