import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { FastifyReply, FastifySchema } from 'fastify';
import type { ServiceError } from '../services/errors.js';

/** Every REST error, from routes, auth and the error handler alike. */
export const ErrorBody = z.object({ statusCode: z.number(), error: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The body for `status`: `error` is the status's reason phrase (`Not Found`, `Conflict`, …). */
export function errorBody(status: number, message: string): ErrorBody {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
}

/** Answers `status` with the shared error body. */
export function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send(errorBody(status, message));
}

const REQUEST_PARTS = ['params', 'querystring', 'body'] as const;

/**
 * A service's refusal as REST answers it. A field error is prefixed with the request part whose
 * schema declares the field (`querystring.tz: …`), as validation errors are; MCP arguments are
 * plain fields, so the service's own message names the field alone.
 */
export function serviceErrorBody(err: ServiceError, schema: FastifySchema | undefined): ErrorBody {
  const field = err.field?.split('.')[0];
  const declares = (part: unknown) => field !== undefined && part instanceof z.ZodObject && field in part.shape;
  const part = REQUEST_PARTS.find((p) => declares(schema?.[p]));
  return errorBody(err.status, part ? `${part}.${err.message}` : err.message);
}
