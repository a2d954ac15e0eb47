import { createHmac, randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Client } from '@temporalio/client';
import type { CrmActionDeps } from '../activities/crm/actions.js';
import type { ConnectDeps } from '../domain/connections/connect.js';
import type { ProviderAccess } from '../domain/connections/providerAccess.js';
import type { ProviderConfig, ProviderName } from '../lib/config.js';
import { connectionRoutes } from './routes/connections.js';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { authPlugin } from './auth.js';
import { adminRoutes } from './routes/admin.js';
import { errorBody, fail, serviceErrorBody } from './http/errors.js';
import { documentRoute, MAX_PARAM_LENGTH, requestRules, securitySchemes } from './http/openapi.js';
import { mcpRoutes } from './mcp/http.js';
import type { ToolDeps } from './mcp/tool.js';
import { analysisRoutes } from './routes/analysis.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { campaignRoutes } from './routes/campaigns.js';
import { crmRecordRoutes } from './routes/crmRecords.js';
import { voiceProvisionRoutes } from './routes/voiceProvision.js';
import { contactRoutes } from './routes/contacts.js';
import { createCachedReads, type CachedReads } from './services/cachedReads.js';
import { credentialRoutes } from './routes/credentials.js';
import { crmSyncRoutes } from './routes/crmSync.js';
import { ghlWebhookRoutes, type GhlWebhookKeys } from './routes/ghlWebhooks.js';
import { healthRoutes } from './routes/health.js';
import { insightRoutes } from './routes/insights.js';
import { callRoutes } from './routes/calls.js';
import { voiceWebhookRoutes } from './routes/voiceWebhooks.js';
import { tenantVoiceCache } from './voiceTenants.js';
import { sendgridWebhookRoutes } from './routes/sendgridWebhooks.js';
import { userRoutes } from './routes/users.js';
import { asServiceError } from './services/errors.js';
import { quotaRoutes } from './routes/quotas.js';
import { oauthClientRoutes } from './routes/oauthClients.js';
import { createMcpOAuth, oauthRoutes, type OAuthSettings } from './oauth/routes.js';
import { knowledgeRoutes } from './routes/knowledge.js';
import { agentRoutes } from './routes/agents.js';
import { PgNotifications } from './notifications.js';
import { CHAT_NOTIFY_CHANNEL } from '../domain/agents/conversations.js';
import { TOOL_ANSWER_CHANNEL } from '../domain/voice/toolCalls.js';
import { DEFAULT_AGENT_SETTINGS, type AgentConversationSettings } from '../lib/config.js';
import { consoleRoutes, type ConsoleOptions } from './routes/console.js';
import { callStreamRoutes } from './routes/callStream.js';
import { sandboxTourRoutes } from './routes/sandboxTour.js';
import { widgetRoutes } from './routes/widgets.js';
import { adminSessionRoutes } from './routes/adminSessions.js';

export interface ApiDeps {
  pool: Pool;
  temporal: Client;
  namespace: string;
  taskQueue: string;
  adminKey: string;
  /** Seals tenants' provider secrets (lib/secrets.ts). */
  masterKey: Buffer;
  log: Logger;
  rateLimitPerMinute: number;
  /** Proxies whose X-Forwarded-For gives the client IP (hops or addresses); unset: the socket's peer. */
  trustProxy?: number | string[];
  probeTimeoutMs: number;
  ghlWebhookKeys: GhlWebhookKeys;
  /** SendGrid Event Webhook verification key (base64 DER or PEM). */
  sendgridWebhookKey?: string;
  /** Each tenant's own provider accounts (GHL, Vapi, SendGrid, Claude), one resolver per process. */
  access: ProviderAccess;
  /** The providers' base URLs and modes (their keys serve only the platform tenant). */
  providers: Record<ProviderName, ProviderConfig>;
  anthropicModel?: string;
  /** The shared GHL request budget, for live caller-ID lookups answering Vapi / Retell. */
  ghlBudget: CrmActionDeps['ghlBudget'];
  /** Where providers reach our webhooks; unset: taken from each request's Host. */
  publicUrl?: string;
  /** Temporal Web UI base URL, for links to workflows. */
  webUiUrl?: string;
  /** Largest accepted request body; webhooks and MCP share it. */
  bodyLimitBytes?: number;
  /** The MCP adapter at /mcp (default: loopback hosts and origins only). */
  mcp?: McpSettings;
  /**
   * The base URL OAuth's issuer and resource derive from, read at the first OAuth request:
   * SWITCHBOARD_PUBLIC_URL, else the address the API listens on. Unset: publicUrl, else the request's own.
   */
  oauthBaseUrl?: () => string;
  /** Test only (set in code by tests, never from env): client metadata documents on loopback hosts. */
  oauthMetadataPolicy?: OAuthSettings['metadataPolicy'];
  /** Persona agents' conversation limits (lib/config.ts `AGENT_*`). */
  agents?: AgentConversationSettings;
  /** The web console at /console/ (api/routes/console.ts); default: console/dist. */
  console?: ConsoleOptions;
}

export interface McpSettings {
  allowedHosts: string[];
  allowedOrigins: string[];
  /**
   * Serve the MCP conformance suite's diagnostic tools, resources and prompts beside the tenant's
   * (api/mcp/conformance.ts). Set in code by the conformance test only; no config or env reads it.
   */
  conformanceProfile?: boolean;
}

/** What the MCP tools run on, from the API's own dependencies (the stdio entry builds the same). */
export function mcpToolDeps(
  deps: Pick<
    ApiDeps,
    'pool' | 'temporal' | 'namespace' | 'taskQueue' | 'log' | 'access' | 'anthropicModel' | 'webUiUrl' | 'ghlBudget'
  > & { masterKey?: Buffer; agents?: AgentConversationSettings; cachedReads?: CachedReads },
): ToolDeps {
  return {
    pool: deps.pool,
    cachedReads: deps.cachedReads ?? createCachedReads(deps.pool),
    temporal: deps.temporal,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    log: deps.log.child({ component: 'mcp' }),
    access: deps.access,
    anthropicModel: deps.anthropicModel,
    temporalUiUrl: deps.webUiUrl,
    crm: { pool: deps.pool, access: deps.access, ghlBudget: deps.ghlBudget },
    agents: deps.agents,
    // Derived from the master key, so every replica verifies the others' state; stdio (one process) may use a random one.
    requestStateKey: deps.masterKey
      ? createHmac('sha256', deps.masterKey).update('switchboard mcp requestState v1').digest()
      : randomBytes(32),
  };
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** Fastify's form of API_TRUST_PROXY: addresses as they are; a hop count as "the nearest n hops". */
function trustedProxies(trust: number | string[]): string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust;
}

export async function buildApi(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }),
    bodyLimit: deps.bodyLimitBytes ?? 1024 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // Off unless configured: a forged X-Forwarded-For must not pick its own sign-in limit bucket.
    ...(deps.trustProxy !== undefined ? { trustProxy: trustedProxies(deps.trustProxy) } : {}),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Router refusals (a bad URL encoding, a path parameter past the limit) in the shared error body.
    frameworkErrors: (err, _req, reply) => fail(reply, err.statusCode ?? 400, err.message),
  });
  await app.register(requestRules);
  // Cached contact reads, REST and MCP: their own read sessions and audit group commit.
  const cachedReads = createCachedReads(deps.pool);
  app.addHook('onClose', () => cachedReads.end());
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });

  // One error shape everywhere: {statusCode, error, message}; validation names the field.
  app.setErrorHandler((err, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const problems = err.validation.map((v) => {
        const where = `${err.validationContext ?? 'request'}${v.instancePath.replaceAll('/', '.')}`;
        return `${where}: ${v.message}`;
      });
      return reply.code(400).send(errorBody(400, problems.join('; ')));
    }
    // A service's refusal (not found, conflict, bad field): routes let it through to here.
    const refused = asServiceError(err);
    if (refused) {
      if (refused.retryAt)
        reply.header('retry-after', Math.max(1, Math.ceil((refused.retryAt.getTime() - Date.now()) / 1000)));
      return reply.code(refused.status).send(serviceErrorBody(refused, req.routeOptions.schema));
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send({
      statusCode: status,
      error: status >= 500 ? 'Internal Server Error' : ((err as { name?: string }).name ?? 'Error'),
      message: status >= 500 ? 'internal error; see the server log for this request id' : (err as Error).message,
    });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody(404, `no route ${req.method} ${req.url.split('?')[0]}`)),
  );

  await app.register(helmet, {
    // The Swagger UI at /docs needs its inline scripts and styles.
    contentSecurityPolicy: false,
  });
  await app.register(authPlugin, { pool: deps.pool, adminKey: deps.adminKey });
  await app.register(rateLimit, {
    max: deps.rateLimitPerMinute,
    timeWindow: '1 minute',
    // Per API key once this process has verified it, else per client IP: a made-up key per request
    // is not a fresh budget, and each one's lookup is paid from its IP's budget.
    keyGenerator: (req) => app.verifiedKeyBucket(req) ?? `ip:${req.ip}`,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Switchboard API',
        version: '0.1.0',
        description: 'Start, signal, update and query the front office workflows.',
      },
      components: { securitySchemes },
      security: [{ bearer: [] }, { apiKey: [] }, { session: [] }],
    },
    // Security, shared error statuses and limits for every route (api/http/openapi.ts).
    transform: documentRoute,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes, {
    pool: deps.pool,
    temporal: deps.temporal,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    probeTimeoutMs: deps.probeTimeoutMs,
  });
  await app.register(adminRoutes, { pool: deps.pool });
  await app.register(userRoutes, {
    pool: deps.pool,
    access: deps.access,
    providers: deps.providers,
    publicUrl: deps.publicUrl,
  });
  await app.register(adminSessionRoutes, { pool: deps.pool, adminKey: deps.adminKey, publicUrl: deps.publicUrl });
  await app.register(auditRoutes, { pool: deps.pool });
  const voice = tenantVoiceCache(deps.pool, deps.masterKey);
  await app.register(credentialRoutes, { pool: deps.pool, masterKey: deps.masterKey, voice });
  const connect: ConnectDeps = {
    pool: deps.pool,
    masterKey: deps.masterKey,
    providers: deps.providers,
    access: deps.access,
  };
  const crmDeps = { pool: deps.pool, temporal: deps.temporal, taskQueue: deps.taskQueue, connect };
  await app.register(crmSyncRoutes, crmDeps);
  await app.register(connectionRoutes, crmDeps);
  await app.register(contactRoutes, { cached: cachedReads });
  await app.register(insightRoutes, { pool: deps.pool });
  await app.register(analysisRoutes, { pool: deps.pool, access: deps.access, model: deps.anthropicModel });
  await app.register(quotaRoutes, { pool: deps.pool, access: deps.access });
  await app.register(knowledgeRoutes, { pool: deps.pool });
  // Chat relays wait for streamed deltas, voice webhooks for tool answers: one LISTEN connection.
  const notifier = PgNotifications.fromPool(
    deps.pool,
    [CHAT_NOTIFY_CHANNEL, TOOL_ANSWER_CHANNEL],
    deps.log.child({ component: 'notifications' }),
  );
  app.addHook('onClose', () => notifier.close());
  const chat = {
    pool: deps.pool,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    settings: deps.agents ?? DEFAULT_AGENT_SETTINGS,
  };
  await app.register(agentRoutes, { ...chat, notifier });
  await app.register(widgetRoutes, {
    pool: deps.pool,
    chat,
    crm: {
      temporal: deps.temporal,
      taskQueue: deps.taskQueue,
      crm: { pool: deps.pool, access: deps.access, ghlBudget: deps.ghlBudget },
    },
    // Derived from the master key, so a token one replica issued opens the chat on every other.
    tokenKey: createHmac('sha256', deps.masterKey).update('switchboard widget visitor token v1').digest(),
    log: deps.log.child({ component: 'widget' }),
    notifier,
    publicUrl: deps.publicUrl,
    distDir: deps.console?.distDir,
  });
  await app.register(ghlWebhookRoutes, { pool: deps.pool, keys: deps.ghlWebhookKeys });
  const crm = { pool: deps.pool, access: deps.access, ghlBudget: deps.ghlBudget };
  await app.register(callRoutes, {
    pool: deps.pool,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    namespace: deps.namespace,
    webUiUrl: deps.webUiUrl,
    voice,
    crm,
  });
  await app.register(crmRecordRoutes, { temporal: deps.temporal, taskQueue: deps.taskQueue, crm });
  await app.register(voiceProvisionRoutes, { pool: deps.pool, voice, crm, publicUrl: deps.publicUrl });
  await app.register(callStreamRoutes, { pool: deps.pool });
  // The console's first-run tour plays calls through the local Vapi simulator: sandbox installs only.
  if (deps.providers.vapi.mode === 'sandbox') {
    await app.register(sandboxTourRoutes, {
      pool: deps.pool,
      masterKey: deps.masterKey,
      voice,
      crm,
      controlUrl: `${deps.providers.vapi.baseUrl.replace(/\/vapi\/?$/, '')}/__sandbox`,
      publicUrl: deps.publicUrl,
    });
  }
  await app.register(voiceWebhookRoutes, {
    pool: deps.pool,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    voice,
    crm,
    notifier,
    publicUrl: deps.publicUrl,
  });
  await app.register(campaignRoutes, {
    pool: deps.pool,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    access: deps.access,
  });
  await app.register(approvalRoutes, { pool: deps.pool, temporal: deps.temporal });
  await app.register(sendgridWebhookRoutes, {
    pool: deps.pool,
    temporal: deps.temporal,
    access: deps.access,
    publicKey: deps.sendgridWebhookKey,
    masterKey: deps.masterKey,
    publicUrl: deps.publicUrl,
  });
  await app.register(oauthClientRoutes, { pool: deps.pool });
  const oauthSettings: OAuthSettings = {
    pool: deps.pool,
    masterKey: deps.masterKey,
    log: deps.log,
    baseUrl: deps.oauthBaseUrl ?? (() => deps.publicUrl ?? `http://localhost:${addressPort(app)}`),
    metadataPolicy: deps.oauthMetadataPolicy,
    access: deps.access,
    providers: deps.providers,
  };
  const oauth = createMcpOAuth(oauthSettings);
  await app.register(oauthRoutes, { oauth, settings: oauthSettings });
  const sandboxOrigins = (['vapi', 'retell'] as const)
    .filter((p) => deps.providers[p].mode === 'sandbox')
    .map((p) => new URL(deps.providers[p].baseUrl).origin);
  await app.register(consoleRoutes, { mediaOrigins: [...new Set(sandboxOrigins)], ...deps.console });
  const mcp = deps.mcp ?? { allowedHosts: LOOPBACK, allowedOrigins: LOOPBACK };
  await app.register(mcpRoutes, {
    deps: mcpToolDeps({ ...deps, cachedReads }),
    allowedHosts: mcp.allowedHosts,
    allowedOrigins: mcp.allowedOrigins,
    bodyLimitBytes: deps.bodyLimitBytes ?? 1024 * 1024,
    conformanceProfile: mcp.conformanceProfile === true,
    oauth,
  });
  return app;
}

function addressPort(app: { server: { address(): unknown } }): number {
  const address = app.server.address() as { port?: number } | null;
  return address?.port ?? 0;
}
