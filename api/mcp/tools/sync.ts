import { z } from 'zod';
import { withTenant } from '../../../lib/db.js';
import { NotConnectedError, readSyncStatus, startCrmSync, SyncMode, SyncStatus } from '../../routes/crmSync.js';
import { defineTool, READ_ONLY, ToolError, type ToolCall } from '../tool.js';

/** How long crm_sync_now keeps a call open to stream progress (only when the client asked for progress). */
const FOLLOW_MS = 60_000;
const POLL_MS = 1_000;

/** Streams the sync's progress from its status row until it stops running, the client leaves, or FOLLOW_MS pass. */
async function followSync(call: ToolCall, workflowId: string): Promise<SyncStatus> {
  const deadline = Date.now() + FOLLOW_MS;
  for (;;) {
    const status = await withTenant(call.deps.pool, call.tenantId, (c) => readSyncStatus(c, call.tenantId));
    const running = status.state === 'running' && status.workflowId === workflowId;
    await call.progress(status.contacts, status.total ?? undefined, running ? `${status.kind ?? 'sync'}: ${status.contacts} contacts, ${status.pages} pages` : `sync ${status.state}`);
    if (!running || Date.now() > deadline || call.signal.aborted) return status;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const syncTools = [
  defineTool({
    name: 'crm_sync_now',
    title: 'Sync the CRM now',
    description: 'Start mirroring GoHighLevel into the cache (or join the sync already running). Returns the workflow id at once; follow with crm_sync_status. With a progress token the call streams progress for up to a minute first.',
    scope: 'act',
    input: z.strictObject({ mode: SyncMode.default('auto').describe('auto: incremental unless a full pass is due') }),
    output: z.object({ workflowId: z.string(), runId: z.string(), status: SyncStatus, followWith: z.literal('crm_sync_status') }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    run: async (args, call) => {
      const started = await startCrmSync(call.deps, call.tenantId, args.mode).catch((err: unknown) => {
        throw err instanceof NotConnectedError ? new ToolError('no CRM connection for this tenant: an admin connects it with PUT /v1/crm/connection') : err;
      });
      call.note({ workflowId: started.workflowId, source: call.deps.crm.ghl.mode });
      const status = call.wantsProgress
        ? await followSync(call, started.workflowId)
        : await withTenant(call.deps.pool, call.tenantId, (c) => readSyncStatus(c, call.tenantId));
      return { ...started, status, followWith: 'crm_sync_status' as const };
    },
  }),
  defineTool({
    name: 'crm_sync_status',
    title: 'CRM sync status',
    description: 'The tenant\'s CRM sync: state, kind, pages, contacts written, total, rate, ETA, contacts cached, last error.',
    scope: 'read',
    input: z.strictObject({}),
    output: SyncStatus.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (_args, call) => ({ ...(await call.read((c) => readSyncStatus(c, call.tenantId))), source: 'cache' as const }),
  }),
];
