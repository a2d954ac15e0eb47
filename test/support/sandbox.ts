import { freePort } from './ports.js';
import { runEntry, waitForOutput } from './process.js';

export interface Sandbox {
  url: string;
  close(): Promise<void>;
  control<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  ghl<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/**
 * The provider sandbox as its own process (`npm run sandbox`) on a free port, as users run it:
 * its clock and request log are not disturbed by the test process's own work.
 */
export async function startTestSandbox(): Promise<Sandbox> {
  const port = await freePort();
  const proc = runEntry('sandbox/main.ts', {
    SANDBOX_PORT: String(port),
    SANDBOX_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  await waitForOutput(proc, /provider sandbox on http/);
  const url = `http://127.0.0.1:${port}`;
  const send = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    url,
    async close() {
      proc.child.kill('SIGTERM');
      await proc.exited;
    },
    async control(method, path, body) {
      const res = await send(method, `/__sandbox${path}`, body);
      if (res.status >= 400) throw new Error(`sandbox ${method} ${path} → ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body;
    },
    ghl: (method, path, body) =>
      send(method, `/ghl${path}`, body, { authorization: 'Bearer test-ghl-token', version: '2021-07-28' }),
  };
}

/** Largest number of requests GHL saw inside any sliding window of `windowMs`. */
export function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
