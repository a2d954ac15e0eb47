import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { recordAudit } from '../../domain/audit.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import {
  computeInsights,
  computeRecommendations,
  InsightsQuery,
  InsightsResponse,
  Recommendation,
} from '../services/insights.js';

/**
 * Insights and recommendations from the CRM cache (api/services/insights.ts). Each answer is
 * audited under the name of its figures (`crm_insights`, `crm_recommendations`).
 */
export const insightRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
  app.get(
    '/v1/insights',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary:
          'Insights from the CRM cache: totals, actionable now, hot leads, peak activity, conversion by source, pipeline drop-off — each with its rule',
        tags: ['insights'],
        querystring: InsightsQuery,
        response: { 200: InsightsResponse },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const started = performance.now();
      const { insights } = await withTenant(pool, tenantId, (c) => computeInsights(c, tenantId, req.query));
      await recordAudit(pool, {
        tenantId,
        tool: 'crm_insights',
        status: 'ok',
        source: 'cache',
        durationMs: Math.round(performance.now() - started),
        params: { ...req.query },
      });
      return insights;
    },
  );

  app.get(
    '/v1/recommendations',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary:
          'Prioritized actions derived from the insights, each with its reasoning, the contacts it covers and the tool that carries it out',
        tags: ['insights'],
        querystring: InsightsQuery,
        response: {
          200: z.object({ asOf: z.string(), recommendations: z.array(Recommendation), source: z.literal('cache') }),
        },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const started = performance.now();
      const recommendations = await withTenant(pool, tenantId, (c) => computeRecommendations(c, tenantId, req.query));
      await recordAudit(pool, {
        tenantId,
        tool: 'crm_recommendations',
        status: 'ok',
        source: 'cache',
        durationMs: Math.round(performance.now() - started),
        params: { ...req.query },
      });
      return { ...recommendations, source: 'cache' as const };
    },
  );
};
