import { execFileSync } from 'node:child_process';
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
  let ctrlCDir: string;
  afterAll(async () => {
    await tearDown({ dataDir });
    await tearDown({ dataDir: ctrlCDir });
  });

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
      // The console: served, its demo owner signs in, and the first-run tour's call books on the sandbox.
      expect(out).toMatch(/Console\s+http:\/\/127\.0\.0\.1:\d+\/console\//);
      expect((await fetch(`${apiUrl}/console/`)).status).toBe(200);
      const [email, password] = (await readFile(path.join(dataDir, 'demo-console-login'), 'utf8')).trim().split(' ');
      const signin = await fetch(`${apiUrl}/v1/auth/signin`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      expect(signin.status).toBe(200);
      const { csrfToken } = (await signin.json()) as { csrfToken: string };
      const cookie = signin.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const tour = await fetch(`${apiUrl}/v1/sandbox/calls`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(tour.status).toBe(202);
      const { workflowId, booking } = (await tour.json()) as { workflowId: string; booking: string | null };
      expect(booking).toBeTruthy();
      await expect
        .poll(
          async () =>
            (await call(apiUrl!, 'GET', `/v1/calls/${encodeURIComponent(workflowId)}`, { key: demoKey })).body.outcome,
          { timeout: 60_000, interval: 500 },
        )
        .toBe('booked');
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

  it('Ctrl-C at a terminal (SIGINT to npm and our process at once, plus npm forwarding its own) stops cleanly', async () => {
    ctrlCDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-ctrl-c-'));
    const env = await embeddedEnv(ctrlCDir);
    const app = runCommand('npm', ['start'], { ...env, LOG_LEVEL: 'info' }, { ownGroup: true });
    try {
      await waitForOutput(app, /Ctrl-C stops everything/);
      const pids = await embeddedPids(ctrlCDir);
      expect(isAlive(pids.postgres) && isAlive(pids.temporal)).toBe(true);
      // The terminal signals the whole foreground group; npm also forwards a copy: one Ctrl-C, twice.
      // (npm's copy can come before or after the terminal's; the second one here makes it certain.)
      const ours = Number(
        execFileSync('pgrep', ['-P', String(app.child.pid), '-f', 'runtime/start.ts'])
          .toString()
          .trim(),
      );
      process.kill(-app.child.pid!, 'SIGINT');
      await new Promise((r) => setTimeout(r, 150));
      if (isAlive(ours)) process.kill(ours, 'SIGINT');
      await app.exited;
      // npm may return before our process has finished stopping: give the shutdown its few seconds.
      for (let i = 0; i < 100 && (isAlive(pids.postgres) || isAlive(pids.temporal)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(app.output()).toContain('stopped cleanly');
      expect(app.output()).not.toContain('second signal');
      expect(isAlive(pids.postgres)).toBe(false);
      expect(isAlive(pids.temporal)).toBe(false);
    } finally {
      try {
        process.kill(-app.child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
      await app.exited;
    }
  });
});
