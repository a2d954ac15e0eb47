import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import { Approval, ApprovalQuery, Decision, decideApproval, listApprovals } from '../services/approvals.js';

/** Review mode: drafts waiting for a person, and their decision (api/services/approvals.ts). */
export const approvalRoutes: FastifyPluginAsyncZod<{ pool: Pool; temporal: Client }> = async (
  app,
  { pool, temporal },
) => {
  app.get(
    '/v1/approvals',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Drafts held for review (pending by default), oldest first',
        tags: ['campaigns'],
        querystring: ApprovalQuery,
        response: { 200: z.object({ approvals: z.array(Approval) }) },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      return { approvals: await withTenant(pool, tenantId, (c) => listApprovals(c, tenantId, req.query)) };
    },
  );

  app.post(
    '/v1/approvals/:id',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Approve, edit (subject/body) or reject a held draft; the lead continues at once',
        tags: ['campaigns'],
        params: z.object({ id: z.string().min(1).max(64) }),
        body: Decision,
        response: { 200: Approval, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId, keyId } = tenantOf(req);
      const { approval, signalError } = await decideApproval(
        { pool, temporal },
        tenantId,
        req.params.id,
        req.body,
        keyId,
      );
      if (signalError) {
        req.log.warn(
          { err: signalError, approvalId: approval.id },
          'the lead workflow could not be told of the decision',
        );
      }
      return approval;
    },
  );
};
