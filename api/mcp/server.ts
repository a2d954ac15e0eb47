import { createHash } from 'node:crypto';
import {
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  McpServer,
  type RequestStateCodec,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { insertAudit, recordAudit, redactParams, type AuditEntry } from '../../domain/audit.js';
import { auditedRead } from '../services/cachedReads.js';
import { withTenant } from '../../lib/db.js';
import type { Scope, TenantPrincipal } from '../apiKeys.js';
import { asServiceError } from '../services/errors.js';
import {
  advertisedSchema,
  describeIssues,
  ToolError,
  type AnyTool,
  type AskForm,
  type ToolCall,
  type ToolDeps,
} from './tool.js';
import { allTools } from './tools/index.js';
import { registerConformanceProfile } from './conformance.js';
import { clientCapabilities, missingCapabilities, toolTable, type ToolOutcome } from './dispatch.js';
import { registerTenantContext, type AgentPromptEntry } from './context.js';

export const SERVER_INFO = { name: 'switchboard', version: '0.1.0' } as const;

const INSTRUCTIONS =
  'Switchboard runs an AI front office on durable workflows. Read tools answer from its Postgres cache ' +
  '(results say `source`). Tools that act (book, SMS, call, sync, campaigns) start a workflow and return its id ' +
  'at once; follow it with the matching status tool or workflow_describe. Pass idempotencyKey on writes you might retry.';

/** How the call reached us, for the audit trail. */
export interface CallOrigin {
  transport: 'http' | 'stdio';
  era: 'legacy' | 'modern';
}

/** The tools a key may see and call. */
export function toolsFor(scopes: readonly Scope[]): AnyTool[] {
  return allTools.filter((t) => scopes.includes(t.scope));
}

/**
 * The audit row for a `tools/call` the key may not make (a known tool outside its scopes): such a
 * tool is not registered for the key, so the SDK answers "not found"; this keeps the attempt on the
 * audit trail. Undefined for anything else.
 */
export function refusedCallAudit(
  principal: TenantPrincipal,
  message: unknown,
  origin: CallOrigin,
): AuditEntry | undefined {
  const m = message as { method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null;
  if (m?.method !== 'tools/call' || typeof m.params?.name !== 'string') return undefined;
  const tool = allTools.find((t) => t.name === m.params!.name);
  if (!tool || principal.scopes.includes(tool.scope)) return undefined;
  return {
    tenantId: principal.tenantId,
    tool: tool.name,
    status: 'error',
    source: 'cache',
    durationMs: 0,
    params: {
      args: auditedArgs(m.params.arguments),
      keyId: principal.keyId,
      ...whoCalled(principal),
      via: `mcp-${origin.transport}`,
      era: origin.era,
    },
    error: `refused: this ${principal.oauthClientId ? 'access token' : 'API key'} lacks the '${tool.scope}' scope`,
  };
}

/** Who made the call beyond the key id: the user and the OAuth client, when a token was issued to them. */
function whoCalled(principal: TenantPrincipal): { userId?: string; clientId?: string } {
  return {
    ...(principal.userId ? { userId: principal.userId } : {}),
    ...(principal.oauthClientId ? { clientId: principal.oauthClientId } : {}),
  };
}

/** Longest error text kept in the audit row. */
const AUDIT_ERROR_CHARS = 1000;
/** Arguments larger than this (as JSON) are kept as a preview, so a flood of huge calls cannot bloat the audit trail. */
const AUDIT_ARGS_CHARS = 4000;

function auditedArgs(args: unknown): Record<string, unknown> {
  const json = JSON.stringify(redactParams(args ?? {}));
  if (json.length <= AUDIT_ARGS_CHARS) return (args ?? {}) as Record<string, unknown>;
  return { truncated: true, chars: json.length, preview: json.slice(0, AUDIT_ARGS_CHARS) };
}

/**
 * Builds one MCP server instance for one principal: only the tools its scopes allow are
 * registered, and every call goes through `invoke` (zod parse, run, audit). Cheap enough to build
 * per HTTP request (the stateless transports do): the JSON Schemas are computed once per tool, and a
 * request that calls one tool gets a server with just that tool (`onlyTool`).
 */
export function createToolServer(
  principal: TenantPrincipal,
  deps: ToolDeps,
  origin: CallOrigin,
  opts: { onlyTool?: string; conformanceProfile?: boolean; agents?: AgentPromptEntry[] } = {},
): McpServer {
  const codec = requestStateCodec(deps);
  const server = new McpServer(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: false },
      resources: { listChanged: false },
      prompts: { listChanged: false },
      completions: {},
      logging: {},
    },
    instructions: INSTRUCTIONS,
    // What a key sees depends on its scopes and tenant: cacheable by that client only, briefly.
    cacheHints: {
      'tools/list': { ttlMs: LIST_TTL_MS, cacheScope: 'private' },
      'prompts/list': { ttlMs: LIST_TTL_MS, cacheScope: 'private' },
      'resources/list': { ttlMs: 0, cacheScope: 'private' },
      'resources/templates/list': { ttlMs: LIST_TTL_MS, cacheScope: 'private' },
      'resources/read': { ttlMs: 0, cacheScope: 'private' },
      'server/discover': { ttlMs: LIST_TTL_MS, cacheScope: 'private' },
    },
    // requestState comes back from the client: signed, bound to the key and the method, short-lived.
    requestState: { verify: (state, ctx) => codec.verify(state, ctx) },
  });
  // Stateless: no level survives the request, so setLevel is accepted and each request's own level applies.
  server.server.setRequestHandler('logging/setLevel', async () => ({}));
  // No prompt argument is cheaply enumerable: an empty completion, not an error.
  server.server.setRequestHandler('completion/complete', async () => ({
    completion: { values: [], total: 0, hasMore: false },
  }));
  const allowed = toolsFor(principal.scopes);
  // A per-request server answering one tools/call needs only that tool (an unknown name gets them all, and "not found").
  const needed = opts.onlyTool ? allowed.filter((t) => t.name === opts.onlyTool) : [];
  const table = toolTable(server);
  const mint = (payload: unknown, ctx: ServerContext) => codec.mint(payload, ctx);
  for (const tool of needed.length ? needed : allowed) {
    table.add(tool.name, {
      title: tool.title,
      description: tool.description,
      inputSchema: schemaCache(tool).input,
      outputSchema: schemaCache(tool).output,
      annotations: tool.annotations,
      ...(tool.requires
        ? {
            // Judged on valid arguments only; bad ones are reported (and audited) by invoke.
            requires: (args: Record<string, unknown>) => {
              const parsed = tool.input.safeParse(args);
              return parsed.success ? tool.requires!(parsed.data) : undefined;
            },
          }
        : {}),
      run: (args, ctx) => invoke(tool, args, ctx, principal, deps, origin, { server, mint }),
    });
  }
  registerTenantContext(server, principal, deps, opts.agents);
  if (opts.conformanceProfile) registerConformanceProfile(server, table, mint);
  table.install();
  return server;
}

/** How long a client may reuse a list answer (the lists change only with a deploy or a key's scopes). */
const LIST_TTL_MS = 60_000;

const codecs = new WeakMap<ToolDeps, RequestStateCodec>();
function requestStateCodec(deps: ToolDeps): RequestStateCodec {
  let codec = codecs.get(deps);
  if (!codec)
    codecs.set(
      deps,
      (codec = createRequestStateCodec({
        key: deps.requestStateKey,
        ttlSeconds: 600,
        bind: (ctx) => `${ctx.mcpReq.method}\0${ctx.http?.authInfo?.clientId ?? 'stdio'}`,
      })),
    );
  return codec;
}

const schemas = new WeakMap<
  AnyTool,
  { input: ReturnType<typeof advertisedSchema>; output: ReturnType<typeof advertisedSchema> }
>();
function schemaCache(tool: AnyTool) {
  let s = schemas.get(tool);
  if (!s)
    schemas.set(
      tool,
      (s = { input: advertisedSchema(tool.input, 'input'), output: advertisedSchema(tool.output, 'output') }),
    );
  return s;
}

async function invoke(
  tool: AnyTool,
  rawArgs: unknown,
  ctx: ServerContext,
  principal: TenantPrincipal,
  deps: ToolDeps,
  origin: CallOrigin,
  rounds: { server: McpServer; mint: (payload: unknown, ctx: ServerContext) => Promise<string> },
): Promise<ToolOutcome> {
  const started = performance.now();
  const { tenantId, keyId } = principal;
  const facts: { workflowId?: string; source: AuditEntry['source']; confirmation?: Confirmation } = {
    source: 'cache',
  };
  let audited = false;
  const audit = (status: 'ok' | 'error', error?: string): AuditEntry => ({
    tenantId,
    tool: tool.name,
    status,
    source: facts.source,
    durationMs: Math.round(performance.now() - started),
    ...(facts.workflowId ? { workflowId: facts.workflowId } : {}),
    // Arguments are kept for operators (secret-looking keys are masked by the audit module).
    params: {
      args: auditedArgs(rawArgs),
      keyId,
      ...whoCalled(principal),
      via: `mcp-${origin.transport}`,
      era: origin.era,
      ...(facts.confirmation ? { confirmation: facts.confirmation } : {}),
    },
    ...(error ? { error: error.slice(0, AUDIT_ERROR_CHARS) } : {}),
  });

  const progressToken = ctx.mcpReq._meta?.progressToken;
  const call: ToolCall = {
    tenantId,
    apiKeyId: keyId,
    deps,
    signal: ctx.mcpReq.signal,
    wantsProgress: progressToken !== undefined,
    note(f) {
      if (f.workflowId) facts.workflowId = f.workflowId;
      if (f.source) facts.source = f.source;
    },
    read: (fn) =>
      withTenant(
        deps.pool,
        tenantId,
        async (c) => {
          const result = await fn(c);
          if (!audited) {
            await insertAudit(c, audit('ok'));
            audited = true;
          }
          return result;
        },
        { asyncCommit: true },
      ),
    cachedRead: async (fn) => {
      if (audited) return deps.cachedReads.reads.run(tenantId, fn);
      const result = await auditedRead(deps.cachedReads, tenantId, fn, () => audit('ok'));
      audited = true;
      return result;
    },
    async progress(progress, total, message) {
      if (progressToken === undefined) return;
      await ctx.mcpReq.notify({
        method: 'notifications/progress',
        params: { progressToken, progress, ...(total !== undefined ? { total } : {}), ...(message ? { message } : {}) },
      });
    },
  };

  const fail = async (message: string) => {
    await recordAudit(deps.pool, audit('error', message)).catch((err: unknown) =>
      deps.log.error({ err, tool: tool.name }, 'audit write failed'),
    );
    return { content: [{ type: 'text' as const, text: message }], isError: true };
  };

  // The services' refusals (not found, conflict, bad field) are the caller's to act on, like a ToolError.
  const refuse = (err: unknown) => {
    const refused = err instanceof ToolError ? err : asServiceError(err);
    if (refused) return fail(refused.message);
    deps.log.error({ err, tool: tool.name, tenantId }, 'tool failed');
    return fail(`${tool.name} failed: internal error (see the server log)`);
  };

  const parsed = tool.input.safeParse(rawArgs ?? {});
  if (!parsed.success) return fail(`invalid arguments: ${describeIssues(parsed.error)}`);
  let args: unknown = parsed.data;
  if (tool.ask?.needed(args)) {
    const ask = tool.ask;
    if (!canElicit(rounds.server, ctx)) {
      facts.confirmation = 'needed';
      return fail(
        `not done: ${ask.field} is required; this client cannot be asked for it (no elicitation capability), so ask the user and pass ${ask.field}.`,
      );
    }
    const digest = argsDigest(tool.name, 'ask', args);
    const state = ctx.mcpReq.requestState<{ asks?: unknown }>();
    const answer = inputResponse(ctx.mcpReq.inputResponses, ask.field);
    if (state?.asks === digest && answer.kind === 'elicit') {
      if (answer.action !== 'accept') {
        facts.confirmation = 'declined';
        return fail(`not done: the user declined to give ${ask.field}; nothing was changed`);
      }
      facts.confirmation = 'user';
      const merged = tool.input.safeParse(ask.merge(args, answer.content ?? {}));
      if (!merged.success) return fail(`invalid answer: ${describeIssues(merged.error)}`);
      if (ask.needed(merged.data)) return fail(`not done: the answer gave no ${ask.field}`);
      args = merged.data;
    } else {
      // Built in the tenant's own transaction (row-level security), which also carries the audit row.
      let form: AskForm;
      try {
        form = await withTenant(
          deps.pool,
          tenantId,
          async (c) => {
            const built = await ask.form(args, c, tenantId);
            facts.confirmation = 'asked';
            await insertAudit(c, audit('ok'));
            return built;
          },
          { asyncCommit: true },
        );
      } catch (err) {
        return refuse(err);
      }
      return inputRequired({
        inputRequests: { [ask.field]: inputRequired.elicit(form) },
        requestState: await rounds.mint({ asks: digest }, ctx),
      });
    }
  }
  if (tool.confirm) {
    const { confirm, ...rest } = args as { confirm?: boolean } & Record<string, unknown>;
    args = rest;
    const gate = await confirmation(tool, rest, confirm === true, ctx, rounds);
    facts.confirmation = gate.kind;
    if (gate.kind === 'asked') {
      await recordAudit(deps.pool, audit('ok'));
      return gate.result;
    }
    if (gate.kind === 'declined') return fail(`not done: the user declined (${gate.question})`);
    if (gate.kind === 'needed')
      return fail(
        `not done, confirmation needed: ${gate.question} Ask the user; call again with confirm: true only if they agree.`,
      );
  }
  const pending = tool.pending && canElicit(rounds.server, ctx) ? tool.pending : undefined;
  if (pending) {
    // The retry of an input_required round: its signed state says which confirmation the answer is for.
    const state = ctx.mcpReq.requestState<{ pending?: { digest?: unknown; token?: Record<string, string> } }>();
    const answer = inputResponse(ctx.mcpReq.inputResponses, CONFIRM_KEY);
    if (
      state?.pending?.token &&
      state.pending.digest === argsDigest(tool.name, 'pending', parsed.data) &&
      answer.kind === 'elicit'
    ) {
      const approve = answer.action === 'accept' && answer.content?.confirm === true;
      facts.confirmation = approve ? 'user' : 'declined';
      args = pending.resume(args, state.pending.token, approve);
    }
  }
  let result: unknown;
  try {
    result = await tool.run(args, call);
  } catch (err) {
    return refuse(err);
  }
  const waiting = pending?.of(result);
  if (waiting) facts.confirmation ??= 'asked';
  if (!audited) await recordAudit(deps.pool, audit('ok'));
  if (waiting) {
    return inputRequired({
      inputRequests: { [CONFIRM_KEY]: inputRequired.elicit(confirmForm(waiting.question)) },
      requestState: await rounds.mint(
        { pending: { digest: argsDigest(tool.name, 'pending', parsed.data), token: waiting.token } },
        ctx,
      ),
    });
  }
  const structured = result as Record<string, unknown>;
  return { content: [{ type: 'text' as const, text: JSON.stringify(structured) }], structuredContent: structured };
}

/** How a confirming tool's call was confirmed (kept in the audit row). */
type Confirmation = 'asked' | 'user' | 'declined' | 'argument' | 'needed';

const CONFIRM_KEY = 'confirm';

/** True when the client can be shown a form (it declared `elicitation`). */
function canElicit(server: McpServer, ctx: ServerContext): boolean {
  return !missingCapabilities({ elicitation: {} }, clientCapabilities(server, ctx));
}

/** Names exactly these arguments in a round's requestState, so an answer cannot be replayed onto others. */
function argsDigest(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/**
 * The user's yes before a tool acts. A client that can show a form (declared `elicitation`) is
 * asked with an `input_required` round; its answer counts only with the signed requestState of
 * that round, which names the tool and a digest of exactly these arguments (so an answer cannot be
 * replayed onto other arguments) and is bound to the key and expires (see requestStateCodec).
 * Such a client cannot skip the form with `confirm: true`. Any other client (2025-era stateless
 * HTTP has no channel to ask on) must pass `confirm: true`.
 */
async function confirmation(
  tool: AnyTool,
  args: Record<string, unknown>,
  confirmArg: boolean,
  ctx: ServerContext,
  rounds: { server: McpServer; mint: (payload: unknown, ctx: ServerContext) => Promise<string> },
): Promise<
  | { kind: 'asked'; result: ToolOutcome }
  | { kind: 'user' | 'argument' }
  | { kind: 'declined' | 'needed'; question: string }
> {
  const question = tool.confirm!(args);
  if (!canElicit(rounds.server, ctx)) return confirmArg ? { kind: 'argument' } : { kind: 'needed', question };
  const digest = argsDigest(tool.name, args);
  const state = ctx.mcpReq.requestState<{ confirms?: unknown }>();
  const answer = inputResponse(ctx.mcpReq.inputResponses, CONFIRM_KEY);
  if (state?.confirms === digest && answer.kind === 'elicit')
    return answer.action === 'accept' && answer.content?.confirm === true
      ? { kind: 'user' }
      : { kind: 'declined', question };
  return {
    kind: 'asked',
    result: inputRequired({
      inputRequests: { [CONFIRM_KEY]: inputRequired.elicit(confirmForm(question)) },
      requestState: await rounds.mint({ confirms: digest }, ctx),
    }),
  };
}

/** The yes-or-no form of a confirmation. */
function confirmForm(question: string): AskForm {
  return {
    message: question,
    requestedSchema: {
      type: 'object',
      properties: { confirm: { type: 'boolean', title: 'Go ahead?', description: question } },
      required: ['confirm'],
    },
  };
}
