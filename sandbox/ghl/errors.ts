import { ProviderHttpError } from '../context.js';
import { STATUS_CODES } from 'node:http';

/** GoHighLevel's (NestJS) error body: `{statusCode, message (string | string[]), error}`. */
export interface GhlErrorBody {
  statusCode: number;
  message: string | string[];
  error?: string;
  [extra: string]: unknown;
}

export function ghlError(
  status: number,
  message: string | string[],
  extra: Record<string, unknown> = {},
): GhlErrorBody {
  return { statusCode: status, message, error: STATUS_CODES[status] ?? 'Error', ...extra };
}

export const fail = (status: number, message: string | string[], extra?: Record<string, unknown>): never => {
  throw new ProviderHttpError(status, ghlError(status, message, extra));
};

/** class-validator style lines from zod issues: `locationId should not be empty`. */
export function validationMessages(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; code?: string; input?: unknown }>,
): string[] {
  return issues.map((i) => {
    const field = i.path.map(String).join('.') || 'body';
    if (i.input === undefined && (i.code === 'invalid_type' || i.code === undefined))
      return `${field} should not be empty`;
    return `${field} ${i.message.charAt(0).toLowerCase()}${i.message.slice(1)}`;
  });
}
