import { mkdir } from 'node:fs/promises';
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import protos from '@temporalio/proto';
import type { Config } from '../lib/config.js';
import { createPool, type Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { customSearchAttributes } from '../lib/searchAttributes.js';
import { defaultBudget, GhlBudget } from '../providers/ghl/budget.js';
import { ensureAllSyncSchedules } from '../api/crmSchedules.js';
import { buildApi, type ApiDeps } from '../api/server.js';
import { startSandbox } from '../sandbox/server.js';
import { connectNative, startWorker, type WorkerHandle } from '../workers/worker.js';
import {
  createProviderAccess,
  resolvePlatformTenant,
  type ProviderAccess,
} from '../domain/connections/providerAccess.js';
import { DEMO_TENANT, ensureAdminKey, ensureDemoOwner, ensureDemoTenant, ensureMasterKey } from './bootstrap.js';
import { embeddedPostgresUrl, startEmbeddedPostgres, type EmbeddedPostgres } from './embeddedPostgres.js';
import { migrate } from './migrate.js';
import { connectionOptions, startDevServer, type DevServer } from './temporal.js';

export type Role = 'api' | 'worker';

export interface PlatformOptions {
  roles: Role[];
  /** Start embedded Postgres / Temporal dev server when their URLs are unset (`npm start`). */
  embed: boolean;
  /** Test only (test/mcpConformance.test.ts): the MCP conformance suite's fixtures on /mcp. Never set by a start. */
  mcpConformanceProfile?: boolean;
  /** Test only (test/mcpOAuth.test.ts): client metadata documents on loopback hosts. Never set by a start. */
  oauthMetadataPolicy?: ApiDeps['oauthMetadataPolicy'];
}

export interface Platform {
  config: Config;
  pool: Pool;
  databaseUrl: string;
  temporalAddress: string;
  embedded: { postgres?: EmbeddedPostgres; temporal?: DevServer };
  /** The in-process provider sandbox, when `npm start` runs with a provider unconfigured. */
  sandboxUrl?: string;
  apiUrl?: string;
  adminKeyFile?: string;
  demo?: { tenantId: string; keyFile: string; loginFile?: string };
  worker?: WorkerHandle;
  /** The Temporal client (the API's, the stdio MCP server's), on the shared connection. */
  temporal?: Client;
  /** The Temporal Web UI, when known (embedded, configured, or the one `npm start` runs). */
  temporalUiUrl?: string;
  /** The one resolver from a tenant to its provider accounts (worker, API and MCP share it). */
  access: ProviderAccess;
  /** Stops in dependency order: API stops accepting, worker drains, then the servers we started. */
  stop(): Promise<void>;
}

async function resolveDatabase(
  config: Config,
  embed: boolean,
  log: Logger,
): Promise<{ url: string; embedded?: EmbeddedPostgres }> {
  if (config.database.url) return { url: config.database.url };
  if (embed) {
    const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, log });
    return { url: embedded.url, embedded };
  }
  const url = await embeddedPostgresUrl(config.dataDir, config.database.embeddedPort);
  if (!url)
    throw new Error(
      'DATABASE_URL is not set and no embedded Postgres has been created under the data directory: run `npm start` once, or set DATABASE_URL.',
    );
  return { url };
}

async function resolveTemporal(
  config: Config,
  embed: boolean,
  log: Logger,
): Promise<{ address: string; embedded?: DevServer }> {
  if (config.temporal.address) return { address: config.temporal.address };
  if (embed) {
    const embedded = await startDevServer({ config: config.temporal, dataDir: config.dataDir, log });
    return { address: embedded.address, embedded };
  }
  // Split processes (`npm run api|worker`) without TEMPORAL_ADDRESS join the dev server `npm start` runs.
  return { address: `127.0.0.1:${config.temporal.devPort}` };
}

/**
 * On a cluster we did not start, registers any missing search attribute. Temporal Cloud manages
 * them through its own console, so a refusal is a warning, not a failure.
 */
async function ensureSearchAttributes(connection: NativeConnection, namespace: string, log: Logger): Promise<void> {
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = customSearchAttributes.filter((k) => !(k.name in (customAttributes ?? {})));
    if (!missing.length) return;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((k) => [k.name, protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    log.info({ added: missing.map((k) => k.name) }, 'registered search attributes');
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      `could not register search attributes (${customSearchAttributes.map((k) => k.name).join(', ')}); register them as Keyword on namespace ${namespace}`,
    );
  }
}

/**
 * GHL webhook keys: configured, or — when GoHighLevel is the sandbox — the sandbox's own, so its
 * signed webhooks verify out of the box.
 */
async function resolveGhlWebhookKeys(
  config: Config,
  log: Logger,
): Promise<{ rsa: string | undefined; ed25519: string | undefined }> {
  const configured = config.ghlWebhookKeys;
  if (configured.rsa || configured.ed25519 || config.providers.ghl.mode !== 'sandbox') return configured;
  const controlUrl = `${config.providers.ghl.baseUrl.replace(/\/ghl$/, '')}/__sandbox/ghl/webhook-keys`;
  try {
    const res = await fetch(controlUrl, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as {
      'x-wh-signature'?: { publicKey: string };
      'x-ghl-signature'?: { publicKey: string };
    };
    return { rsa: body['x-wh-signature']?.publicKey, ed25519: body['x-ghl-signature']?.publicKey };
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'GHL webhooks will be refused: the sandbox did not give its webhook keys',
    );
    return configured;
  }
}

/** The SendGrid Event Webhook key: configured, or — when SendGrid is the sandbox — the sandbox's own. */
async function resolveSendgridWebhookKey(config: Config, log: Logger): Promise<string | undefined> {
  if (config.sendgridWebhookKey || config.providers.sendgrid.mode !== 'sandbox') return config.sendgridWebhookKey;
  const controlUrl = `${config.providers.sendgrid.baseUrl.replace(/\/sendgrid$/, '')}/__sandbox/sendgrid/webhook-key`;
  try {
    const res = await fetch(controlUrl, { signal: AbortSignal.timeout(3000) });
    return ((await res.json()) as { publicKey?: string }).publicKey;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'SendGrid event webhooks will be refused: the sandbox did not give its verification key',
    );
    return undefined;
  }
}

/** The Web UI of the Temporal we use: the embedded dev server's, the configured one, or the one `npm start` runs. */
export function temporalUiUrl(config: Config, embedded?: DevServer): string | undefined {
  return (
    embedded?.uiUrl ??
    config.temporal.uiUrl ??
    (config.temporal.address ? undefined : `http://127.0.0.1:${config.temporal.uiPort}`)
  );
}

export async function startPlatform(config: Config, log: Logger, opts: PlatformOptions): Promise<Platform> {
  await mkdir(config.dataDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err: unknown) => log.error({ err }, 'shutdown step failed'));
    }
  };
  try {
    let sandboxUrl: string | undefined;
    if (opts.embed && Object.values(config.providers).some((p) => p.mode === 'sandbox')) {
      const sandbox = await startSandbox({
        port: config.sandboxPort,
        host: '127.0.0.1',
        logLevel: config.logLevel === 'silent' ? 'silent' : 'warn',
      }).catch((err: unknown) => {
        throw new Error(
          `The provider sandbox could not listen on 127.0.0.1:${config.sandboxPort} (${(err as Error).message}); set SANDBOX_PORT or the providers' keys.`,
        );
      });
      sandboxUrl = sandbox.url;
      cleanups.push(() => sandbox.close());
    }

    const db = await resolveDatabase(config, opts.embed, log);
    if (db.embedded) cleanups.push(() => db.embedded!.stop());
    const pool = createPool(db.url, config.database.poolSize);
    cleanups.push(() => pool.end());
    await migrate(pool, log);

    const tmp = await resolveTemporal(config, opts.embed, log);
    if (tmp.embedded) cleanups.push(() => tmp.embedded!.stop());
    // One connection for worker and client: in the all-in-one process a workflow the API starts can
    // be handed straight to this worker (eager start), skipping a round trip through the task queue.
    const connection = await connectNative(connectionOptions(config.temporal, tmp.address), log);
    cleanups.push(() => connection.close());

    const masterKey = await ensureMasterKey(config);
    const platformTenant = await resolvePlatformTenant(pool, config, DEMO_TENANT);
    const apiBaseUrl = () => config.publicUrl ?? platform.apiUrl ?? `http://${config.api.host}:${config.api.port}`;
    // One resolver per process: every provider call of every tenant goes through its own connection.
    const access = createProviderAccess({
      pool,
      masterKey,
      providers: config.providers,
      platformTenant,
      quotas: config.quotas,
      ghlOAuth: config.ghlOAuth && {
        ...config.ghlOAuth,
        tokenUrl: `${config.providers.ghl.baseUrl.replace(/\/+$/, '')}/oauth/token`,
        redirectUri: () => `${apiBaseUrl()}/oauth/ghl/callback`,
      },
    });
    if (platformTenant) log.info({ platformTenant }, 'the platform provider keys serve this tenant only');

    const platform: Platform = {
      config,
      pool,
      databaseUrl: db.url,
      temporalAddress: tmp.address,
      embedded: { postgres: db.embedded, temporal: tmp.embedded },
      sandboxUrl,
      temporal: new Client({ connection, namespace: config.temporal.namespace }),
      temporalUiUrl: temporalUiUrl(config, tmp.embedded),
      access,
      stop,
    };

    if (opts.roles.includes('worker')) {
      const ghlBudget = new GhlBudget(pool, { ...defaultBudget, burst: config.ghlRateLimitBurst });
      const deps = { pool, access, ghlBudget, anthropicModel: config.anthropicModel, publicUrl: apiBaseUrl, masterKey };
      platform.worker = await startWorker({ config, connection, deps, log });
      const worker = platform.worker;
      cleanups.push(() => worker.shutdown());
    }

    if (opts.roles.includes('api')) {
      if (!tmp.embedded) await ensureSearchAttributes(connection, config.temporal.namespace, log);
      const temporal = platform.temporal!;
      const admin = await ensureAdminKey(config);
      platform.adminKeyFile = admin.file;
      platform.demo = await ensureDemoTenant(config, pool);
      if (platform.demo) platform.demo.loginFile = await ensureDemoOwner(config, pool, platform.demo.tenantId);
      await ensureAllSyncSchedules(temporal, pool, config.temporal.taskQueue, platformTenant);
      const api = await buildApi({
        pool,
        temporal,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        adminKey: admin.key,
        masterKey,
        log,
        rateLimitPerMinute: config.api.rateLimitPerMinute,
        trustProxy: config.api.trustProxy,
        probeTimeoutMs: config.api.readyProbeTimeoutMs,
        ghlWebhookKeys: await resolveGhlWebhookKeys(config, log),
        sendgridWebhookKey: await resolveSendgridWebhookKey(config, log),
        access,
        providers: config.providers,
        anthropicModel: config.anthropicModel,
        agents: config.agents,
        ghlBudget: new GhlBudget(pool, { ...defaultBudget, burst: config.ghlRateLimitBurst }),
        publicUrl: config.publicUrl,
        oauthBaseUrl: apiBaseUrl,
        oauthMetadataPolicy: opts.oauthMetadataPolicy,
        webUiUrl: platform.temporalUiUrl,
        mcp: {
          allowedHosts: config.mcp.allowedHosts,
          allowedOrigins: config.mcp.allowedOrigins,
          conformanceProfile: opts.mcpConformanceProfile === true,
        },
      });
      platform.apiUrl = await api.listen({ host: config.api.host, port: config.api.port });
      cleanups.push(() => api.close());
      if (sandboxUrl && platform.demo) {
        // The demo location's contact and appointment changes reach us as signed webhooks.
        await fetch(`${sandboxUrl}/__sandbox/ghl/webhooks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: `${platform.apiUrl}/webhooks/ghl`, locationId: 'loc_demo' }),
        });
      }
    }
    return platform;
  } catch (err) {
    await stop();
    throw err;
  }
}
