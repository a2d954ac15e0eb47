import { z } from 'zod';
import { withTenant } from '../../../lib/db.js';
import { NotConnectedError } from '../../../domain/connections/store.js';
import { readSyncStatus, startCrmSync, SyncMode, SyncStatus } from '../../services/crmSync.js';
import { FollowSeconds, followWorkflow } from '../follow.js';
import { defineTool, READ_ONLY, ToolError } from '../tool.js';

export const syncTools = [
  defineTool({
    name: 'crm_sync_now',
    title: 'Sync the CRM now',
    description:
      'Start mirroring GoHighLevel into the cache (or join the sync already running). Returns the workflow id at once; follow with crm_sync_status. With a progress token the call first streams progress (followSeconds, default 20 s).',
    scope: 'act',
    input: z.strictObject({
      mode: SyncMode.default('auto').describe('auto: incremental unless a full pass is due'),
      followSeconds: FollowSeconds,
    }),
    output: z.object({
      workflowId: z.string(),
      runId: z.string(),
      status: SyncStatus,
      followWith: z.literal('crm_sync_status'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    run: async (args, call) => {
      const started = await startCrmSync(call.deps, call.tenantId, args.mode).catch((err: unknown) => {
        // A tool caller cannot connect an account itself: it is told who can.
        throw err instanceof NotConnectedError
          ? new ToolError(
              `${err.message.replace(/\s*\(.*\)$/, '')}: an admin of this tenant connects GoHighLevel in the API or console`,
            )
          : err;
      });
      call.note({ workflowId: started.workflowId, source: call.deps.crm.access.mode('ghl') });
      const read = () => withTenant(call.deps.pool, call.tenantId, (c) => readSyncStatus(c, call.tenantId));
      const status = call.wantsProgress
        ? await followWorkflow(
            call,
            started,
            async (ended) => {
              const s = await read();
              const message = ended
                ? `sync ${s.state}: ${s.cachedContacts} contacts cached`
                : `${s.kind ?? 'sync'}: ${s.contacts} contacts, ${s.pages} pages`;
              return { snapshot: s, message, progress: s.contacts, total: s.total ?? undefined };
            },
            args.followSeconds,
          )
        : await read();
      return { ...started, status, followWith: 'crm_sync_status' as const };
    },
  }),
  defineTool({
    name: 'crm_sync_status',
    title: 'CRM sync status',
    description:
      "The tenant's CRM sync: state, kind, pages, contacts written, total, rate, ETA, contacts cached, last error.",
    scope: 'read',
    input: z.strictObject({}),
    output: SyncStatus.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (_args, call) => ({
      ...(await call.read((c) => readSyncStatus(c, call.tenantId))),
      source: 'cache' as const,
    }),
  }),
];
