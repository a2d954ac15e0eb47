import { CredentialRejected } from '../../domain/connections/verify.js';
import { AccountTakenError, NotConnectedError } from '../../domain/connections/store.js';
import { NotTenantsRecordError } from '../../domain/crm/ownership.js';
import { QuotaExceeded } from '../../domain/quotas.js';

/**
 * What a service refuses, in one vocabulary for both adapters: REST answers with `status` and the
 * shared error body (api/http/errors.ts), MCP with the message as an `isError` result
 * (api/mcp/server.ts). Anything else a service throws is an internal error.
 */
export type ServiceStatus = 400 | 403 | 404 | 409 | 429;

export class ServiceError extends Error {
  override readonly name: string = 'ServiceError';
  constructor(
    readonly status: ServiceStatus,
    message: string,
    /** The input field at fault (400): REST prefixes the request part it came in, e.g. `querystring.tz`. */
    readonly field?: string,
    /** 429: when the refused action may be tried again (REST sends it as `Retry-After`). */
    readonly retryAt?: Date,
  ) {
    super(message);
  }
}

/** Refused for who or where the caller is (a website widget on an origin it does not allow). */
export const forbidden = (message: string) => new ServiceError(403, message);

/** The thing asked for does not exist for this tenant. */
export const notFound = (message: string) => new ServiceError(404, message);

/** The request clashes with the current state: already decided, wrong campaign state, opted out, … */
export const conflict = (message: string) => new ServiceError(409, message);

/** One input field is wrong; the message reads `field: problem`. */
export const badInput = (field: string, problem: string) => new ServiceError(400, `${field}: ${problem}`, field);

/**
 * Refusals the domain raises, in the services' vocabulary: a missing or broken provider connection
 * and an account another tenant holds are conflicts; a credential or id the provider refused names
 * its field.
 */
export function asServiceError(err: unknown): ServiceError | undefined {
  if (err instanceof ServiceError) return err;
  if (err instanceof NotConnectedError || err instanceof AccountTakenError) return conflict(err.message);
  if (err instanceof CredentialRejected) return badInput(err.field.replace(/^body\./, ''), err.problem);
  if (err instanceof NotTenantsRecordError) return new ServiceError(400, err.message);
  if (err instanceof QuotaExceeded) return new ServiceError(429, err.message, undefined, err.resetsAt);
  return undefined;
}
