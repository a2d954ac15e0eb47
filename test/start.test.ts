import { readFile, mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../runtime/processes.js';
import { call } from './support/platform.js';
import { embeddedEnv, embeddedPids, runCommand, waitForOutput } from './support/process.js';
import { tearDown } from './support/teardown.js';

/** `npm start` with nothing configured: embedded Postgres + Temporal dev server + worker + API. */
describe('`npm start`, embedded default', () => {
  let dataDir: string;
  afterAll(() => tearDown({ dataDir }));

  it('starts embedded Postgres and Temporal, migrates, serves, and SIGTERM to npm leaves nothing running', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-start-'));
    const env = await embeddedEnv(dataDir);
    const app = runCommand('npm', ['start'], env);
    try {
      const [, apiUrl] = await waitForOutput(app, /API\s+(http:\/\/127\.0\.0\.1:\d+)/);
      const out = app.output();
      expect(out).toContain(`Temporal Web UI  http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
      expect(out).toMatch(/OpenAPI docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
      expect(out).toMatch(/MCP endpoint\s+http:\/\/127\.0\.0\.1:\d+\/mcp/);
      expect(out).toMatch(/Postgres\s+embedded/);
      expect(out).toContain(`ghl        sandbox  http://127.0.0.1:${env.SANDBOX_PORT}/ghl`);
      // The sandbox runs in the same process and speaks GoHighLevel's API at that base URL.
      const ghl = await fetch(`http://127.0.0.1:${env.SANDBOX_PORT}/ghl/contacts/search`, {
        method: 'POST',
        headers: { authorization: 'Bearer sandbox', version: '2021-07-28', 'content-type': 'application/json' },
        body: JSON.stringify({ locationId: 'loc_demo', pageLimit: 1 }),
      });
      expect(ghl.status).toBe(200);

      const ready = await call(apiUrl!, 'GET', '/ready');
      expect(ready.status).toBe(200);

      // Keyless start: the demo tenant and its key exist; the admin key file is private.
      const demoKey = (await readFile(path.join(dataDir, 'demo-api-key'), 'utf8')).trim();
      const me = await call(apiUrl!, 'GET', '/v1/me', { key: demoKey });
      expect(me.body.tenantId).toBe('demo');
      expect((await stat(path.join(dataDir, 'admin-key'))).mode & 0o777).toBe(0o600);
      const docs = await fetch(`${apiUrl}/docs/json`);
      expect(((await docs.json()) as { paths: Record<string, unknown> }).paths).toHaveProperty('/ready');

      const pids = await embeddedPids(dataDir);
      expect(isAlive(pids.postgres) && isAlive(pids.temporal)).toBe(true);
      // What a process manager does: SIGTERM to `npm start` (npm hands it to our process).
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(isAlive(pids.postgres)).toBe(false);
      expect(isAlive(pids.temporal)).toBe(false);
      await expect(fetch(`${apiUrl}/health`)).rejects.toThrow();
    } finally {
      app.child.kill('SIGKILL');
      await app.exited;
    }
  });
});
