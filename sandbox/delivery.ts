/**
 * Outbound HTTP from the sandbox to "our" server (webhooks, simulated call messages): one POST with
 * a timeout, its timing, and what came back — recorded so tests can see exactly what we answered.
 */
export interface DeliveryResult {
  status: number | undefined;
  ms: number;
  /** Parsed JSON when the answer was JSON, else the raw text. */
  body: unknown;
  /** Network error or timeout. */
  error?: string;
}

export async function post(
  url: string,
  body: string | FormData,
  headers: Record<string, string>,
  opts: { timeoutMs: number; shutdown: AbortSignal },
): Promise<DeliveryResult> {
  const started = performance.now();
  const signal = AbortSignal.any([AbortSignal.timeout(opts.timeoutMs), opts.shutdown]);
  try {
    const res = await fetch(url, { method: 'POST', body, headers, signal });
    const text = await res.text();
    return {
      status: res.status,
      ms: round(performance.now() - started),
      body: parseMaybeJson(text, res.headers.get('content-type')),
    };
  } catch (err) {
    const ms = round(performance.now() - started);
    const name = err instanceof Error ? err.name : '';
    const error =
      name === 'TimeoutError'
        ? `timeout after ${opts.timeoutMs} ms`
        : opts.shutdown.aborted
          ? 'sandbox shut down'
          : describe(err);
    return { status: undefined, ms, body: undefined, error };
  }
}

export const isSuccess = (r: DeliveryResult) => r.status !== undefined && r.status >= 200 && r.status < 300;

function parseMaybeJson(text: string, contentType: string | null): unknown {
  if (text === '') return undefined;
  if (contentType?.includes('json') || /^[[{"]/.test(text.trimStart())) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

const round = (n: number) => Math.round(n * 100) / 100;
