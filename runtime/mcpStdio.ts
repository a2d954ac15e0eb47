/**
 * `npm run mcp` / `switchboard-mcp`: the MCP server over stdio, for Claude Desktop-style local use.
 * It acts as the tenant API key in SWITCHBOARD_API_KEY (its scopes decide the tools), on the same
 * Postgres and Temporal as the API (DATABASE_URL / TEMPORAL_ADDRESS, or those of a running
 * `npm start`). stdout carries MCP messages only; every log line goes to stderr.
 */
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { defaultBudget, GhlBudget } from '../providers/ghl/budget.js';
import { findTenantKey } from '../api/apiKeys.js';
import { createToolServer } from '../api/mcp/server.js';
import { tenantAgentPrompts } from '../api/mcp/context.js';
import { mcpToolDeps } from '../api/server.js';
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startPlatform } from './platform.js';

function fatal(message: string): never {
  process.stderr.write(`switchboard-mcp: ${message}\n`);
  process.exit(1);
}

const config = loadConfigOrExit();
const log = createLogger(config.logLevel, { stderr: true });
if (!config.mcp.apiKey)
  fatal('set SWITCHBOARD_API_KEY to the tenant API key this server acts as (e.g. the one in .data/demo-api-key)');

const platform = await startPlatform(config, log, { roles: [], embed: false }).catch((err: unknown) =>
  fatal((err as Error).message),
);
const principal = await findTenantKey(platform.pool, config.mcp.apiKey);
if (!principal) {
  await platform.stop();
  fatal('SWITCHBOARD_API_KEY is not a valid tenant API key (unknown or revoked)');
}

const deps = mcpToolDeps({
  pool: platform.pool,
  temporal: platform.temporal!,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueue,
  log,
  access: platform.access,
  anthropicModel: config.anthropicModel,
  webUiUrl: platform.temporalUiUrl,
  ghlBudget: new GhlBudget(platform.pool, { ...defaultBudget, burst: config.ghlRateLimitBurst }),
});
// One server per connection: the tenant's agents (its prompts) as they are when the client connects.
const handle = serveStdio(
  async (ctx) =>
    createToolServer(
      principal,
      deps,
      { transport: 'stdio', era: ctx.era },
      { agents: await tenantAgentPrompts(deps, principal) },
    ),
  {
    onerror: (err) => log.warn({ err: err.message }, 'mcp stdio error'),
  },
);
log.info({ tenantId: principal.tenantId, scopes: principal.scopes }, 'MCP server on stdio');

// The client closing our stdin ends the session; signals too. Either way, close the pool and the connection.
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await handle.close().catch(() => undefined);
  await deps.cachedReads.end().catch(() => undefined);
  await platform.stop();
  process.exit(code);
};
// A revoked key stops the server within KEY_RECHECK_MS, like an API replica's key cache.
const KEY_RECHECK_MS = 5_000;
setInterval(() => {
  void findTenantKey(platform.pool, config.mcp.apiKey!).then(
    (still) => {
      if (still) return;
      log.error('SWITCHBOARD_API_KEY was revoked; stopping');
      void stop(1);
    },
    (err: unknown) => log.warn({ err: (err as Error).message }, 'could not re-check SWITCHBOARD_API_KEY'),
  );
}, KEY_RECHECK_MS).unref();
process.stdin.once('end', () => void stop(0));
process.stdin.once('close', () => void stop(0));
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));
