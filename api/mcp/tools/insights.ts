import { z } from 'zod';
import { AnalysisResponse, analyzeCachedContact } from '../../services/contactAnalysis.js';
import {
  computeInsights,
  computeRecommendations,
  InsightsQuery,
  InsightsResponse,
  Recommendation,
} from '../../services/insights.js';
import { defineTool, READ_ONLY } from '../tool.js';

/** Insights: the same computations as /v1/insights, /v1/recommendations and /v1/contacts/:id/analysis. */

export const insightTools = [
  defineTool({
    name: 'insights_overview',
    title: 'CRM insights',
    description:
      'Figures from the CRM cache — totals, contacts callable now, hot leads, peak hours/days, conversion by source, pipeline drop-off — each with its rule in words.',
    scope: 'read',
    input: InsightsQuery,
    output: InsightsResponse,
    annotations: READ_ONLY,
    run: (args, call) => call.read((c) => computeInsights(c, call.tenantId, args)).then((r) => r.insights),
  }),
  defineTool({
    name: 'insights_recommendations',
    title: 'Recommended actions',
    description:
      'Prioritized actions derived from the insights rules: reasoning, the contacts each covers, and the tool that carries it out.',
    scope: 'read',
    input: InsightsQuery,
    output: z.object({ asOf: z.string(), recommendations: z.array(Recommendation), source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => ({
      ...(await call.read((c) => computeRecommendations(c, call.tenantId, args))),
      source: 'cache' as const,
    }),
  }),
  defineTool({
    name: 'insights_analyze_contact',
    title: 'Analyze a contact',
    description:
      "A contact's cached facts (opportunities, notes, appointments) and a Claude analysis grounded only in them; analysis is null with an error when the model is unavailable.",
    scope: 'read',
    input: z.strictObject({ contactId: z.string().trim().min(1).max(100) }),
    output: AnalysisResponse,
    // Reads only, but asks a model: not idempotent in wording, and it reaches an outside service.
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    run: async (args, call) => {
      const result = await analyzeCachedContact(
        { pool: call.deps.pool, access: call.deps.access, model: call.deps.anthropicModel },
        call.tenantId,
        args.contactId,
      );
      call.note({ source: 'cache' });
      return result;
    },
  }),
];
