import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { withTenant } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import {
  connectCrm,
  CrmConnection,
  readSyncSchedule,
  readSyncStatus,
  SyncSchedule,
  startCrmSync,
  SyncMode,
  SyncStatus,
  type CrmSyncDeps,
} from '../services/crmSync.js';

/** The CRM connection and its sync (api/services/crmSync.ts). */
export const crmSyncRoutes: FastifyPluginAsyncZod<CrmSyncDeps> = async (
  app,
  { pool, temporal, taskQueue, connect },
) => {
  const deps: CrmSyncDeps = { pool, temporal, taskQueue, connect };

  app.put(
    '/v1/crm/connection',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Connect the tenant to its GoHighLevel location and schedule its sync',
        tags: ['crm'],
        body: z.strictObject({
          locationId: z.string().trim().min(1).max(100),
          syncEveryMinutes: z.number().int().min(1).max(1440).default(15),
        }),
        response: { 200: CrmConnection, 409: ErrorBody },
      },
    },
    async (req) => connectCrm(deps, tenantOf(req).tenantId, req.body),
  );

  app.get(
    '/v1/crm/connection',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'The connected location’s sync schedule: every how many minutes, paused or not, the next run',
        tags: ['crm'],
        response: { 200: SyncSchedule, 409: ErrorBody },
      },
    },
    async (req) => readSyncSchedule(deps, tenantOf(req).tenantId),
  );

  app.post(
    '/v1/sync',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Sync the CRM now; returns the workflow id at once (the running sync, if there is one)',
        tags: ['crm'],
        body: z.strictObject({ mode: SyncMode.default('auto') }).default({ mode: 'auto' }),
        response: {
          202: z.object({ workflowId: z.string(), runId: z.string(), statusUrl: z.string() }),
          409: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const started = await startCrmSync(
        { ...deps, access: deps.connect.access },
        tenantOf(req).tenantId,
        req.body.mode,
      );
      return reply.code(202).send({ ...started, statusUrl: '/v1/sync/status' });
    },
  );

  app.get(
    '/v1/sync/status',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The tenant's CRM sync: state, pages, contacts, rate, ETA, last error",
        tags: ['crm'],
        response: { 200: SyncStatus },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      return withTenant(pool, tenantId, (c) => readSyncStatus(c, tenantId));
    },
  );
};
