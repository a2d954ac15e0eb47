import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/**
 * The MCP endpoint's place is reserved; the adapter itself (Streamable HTTP + stdio) is issue 7.
 * Until then it says so plainly instead of pretending to speak MCP.
 */
export const mcpRoutes: FastifyPluginAsyncZod = async (app) => {
  const NotYet = z.object({ statusCode: z.literal(501), error: z.string(), message: z.string() });
  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/mcp',
      schema: { summary: 'MCP endpoint (not implemented yet)', tags: ['mcp'], response: { 501: NotYet } },
      handler: async (_req, reply) =>
        reply.code(501).send({ statusCode: 501, error: 'Not Implemented', message: 'the MCP adapter is not available in this build yet' }),
    });
  }
};
