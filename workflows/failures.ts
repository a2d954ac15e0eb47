/**
 * The message worth reporting from a failure: an ActivityFailure or ChildWorkflowFailure wraps the
 * real error, so the innermost cause says what happened.
 */
export function innermostMessage(err: unknown): string | undefined {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message;
}
