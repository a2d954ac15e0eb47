import { ApplicationFailure } from '@temporalio/activity';
import { QuotaExceeded } from '../domain/quotas.js';

/**
 * Past a quota an activity waits for the reset instead of failing: its next attempt is scheduled
 * when the quota's window ends (one attempt spent, whatever the retry policy's backoff says).
 * Anything else is rethrown as it is.
 */
export function waitForQuotaReset(err: unknown): never {
  if (!(err instanceof QuotaExceeded)) throw err;
  throw ApplicationFailure.create({
    message: err.message,
    type: 'QuotaExceeded',
    nextRetryDelay: Math.max(1000, err.resetsAt.getTime() - Date.now()),
  });
}
