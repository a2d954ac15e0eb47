import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CampaignDefinition, MAX_LEADS_PER_REQUEST } from '../../lib/campaign.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import {
  addLeads,
  campaignProgress,
  createCampaign,
  ImportResult,
  leadTimeline,
  LeadListItem,
  listCampaigns,
  listLeads,
  Progress,
  startCampaign,
  Timeline,
  transitionCampaign,
  type CampaignDeps,
} from '../services/campaigns.js';

const CampaignParams = z.object({ id: z.string().min(1).max(64) });
const AddLeads = z.union([
  z.strictObject({ leads: z.array(z.unknown()).min(1).max(MAX_LEADS_PER_REQUEST) }),
  z.strictObject({ csv: z.string().min(1).max(5_000_000) }),
]);

/**
 * Campaigns: create (with an audience), add leads, start/pause/resume/cancel, progress, and one
 * lead's timeline (api/services/campaigns.ts). Unknown campaign → 404, wrong state → 409.
 */
export const campaignRoutes: FastifyPluginAsyncZod<CampaignDeps> = async (
  app,
  { pool, temporal, taskQueue, access },
) => {
  // A CSV may be posted as is (text/csv) to the leads endpoint.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) =>
    done(null, { csv: body }),
  );
  const deps: CampaignDeps = { pool, temporal, taskQueue, access };

  app.post(
    '/v1/campaigns',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary:
          'Create a campaign (draft): sequence, sender, policy and an audience of explicit leads, a CSV, or cached CRM contacts with a tag',
        tags: ['campaigns'],
        body: CampaignDefinition,
        response: {
          201: z.object({ id: z.string(), status: z.string(), workflowId: z.string(), leads: ImportResult }),
          400: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (req, reply) => reply.code(201).send(await createCampaign(deps, tenantOf(req).tenantId, req.body)),
  );

  app.get(
    '/v1/campaigns',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The tenant's campaigns, newest first",
        tags: ['campaigns'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      },
    },
    async (req) => ({ campaigns: await listCampaigns(deps, tenantOf(req).tenantId, req.query.limit) }),
  );

  app.post(
    '/v1/campaigns/:id/leads',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Add leads (JSON list, or a CSV as {csv} or text/csv); a running campaign picks them up at once',
        tags: ['campaigns'],
        params: CampaignParams,
        body: AddLeads,
        response: { 200: ImportResult, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => addLeads(deps, tenantOf(req).tenantId, req.params.id, req.body),
  );

  app.post(
    '/v1/campaigns/:id/start',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Start the campaign workflow (once; starting again answers with the same workflow)',
        tags: ['campaigns'],
        params: CampaignParams,
        response: { 202: z.object({ workflowId: z.string(), status: z.string() }), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => reply.code(202).send(await startCampaign(deps, tenantOf(req).tenantId, req.params.id)),
  );

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(
      `/v1/campaigns/:id/${action}`,
      {
        preHandler: app.requireScope('act'),
        schema: {
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} the campaign`,
          tags: ['campaigns'],
          params: CampaignParams,
          response: { 200: z.object({ status: z.string() }), 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (req) => transitionCampaign(deps, tenantOf(req).tenantId, req.params.id, action),
    );
  }

  app.get(
    '/v1/campaigns/:id',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Progress: leads per state, sends today and in all, replies, meetings booked, engagement, cost',
        tags: ['campaigns'],
        params: CampaignParams,
        response: { 200: Progress, 404: ErrorBody },
      },
    },
    async (req) => campaignProgress(deps, tenantOf(req).tenantId, req.params.id),
  );

  app.get(
    '/v1/campaigns/:id/leads',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The campaign's leads in the order they were added, with their state",
        tags: ['campaigns'],
        params: CampaignParams,
        querystring: z.strictObject({
          state: z.string().min(1).max(40).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          after: z.string().min(1).max(64).optional().describe('cursor: the last lead id of the previous page'),
        }),
        response: { 200: z.object({ leads: z.array(LeadListItem) }), 404: ErrorBody },
      },
    },
    async (req) => ({ leads: await listLeads(deps, tenantOf(req).tenantId, req.params.id, req.query) }),
  );

  app.get(
    '/v1/campaigns/:id/leads/:leadId',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'One lead and its event timeline (append-only, oldest first)',
        tags: ['campaigns'],
        params: CampaignParams.extend({ leadId: z.string().min(1).max(64) }),
        response: { 200: Timeline, 404: ErrorBody },
      },
    },
    async (req) => leadTimeline(deps, tenantOf(req).tenantId, req.params.id, req.params.leadId),
  );
};
