import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, serverRegistryDir, stopOrphanedServers, unregisterServer } from '../runtime/processes.js';
import { freePort } from './support/ports.js';
import { embeddedEnv, embeddedPids, runCommand, waitForOutput, type StartedProcess } from './support/process.js';
import { tearDown } from './support/teardown.js';

/** Something listens on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pids of `parent`'s children whose command line matches `pattern`. */
const childrenOf = (parent: number, pattern: string): number[] => {
  try {
    return execFileSync('pgrep', ['-P', String(parent), '-f', pattern], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

/** `npm start` in `dataDir` (its own ports unless given), up to its banner. */
async function npmStart(dataDir: string, ports: Record<string, string> = {}) {
  const env = { ...(await embeddedEnv(dataDir)), ...ports };
  const app = runCommand('npm', ['start'], env);
  await waitForOutput(app, /Ctrl-C stops everything/, 120_000);
  const [node] = childrenOf(app.child.pid!, 'runtime/start.ts');
  expect(node).toBeGreaterThan(1);
  return { app, env, node: node!, pids: await embeddedPids(dataDir) };
}

/**
 * A killed `npm start` leaves nothing behind: its embedded Temporal dev server and Postgres are tied
 * to it (they stop when it dies, SIGKILL included), and a server that outlived its owner anyway is
 * stopped by the next start, whatever its data directory.
 */
describe('no orphan servers after a killed `npm start`', () => {
  const dirs: string[] = [];
  const apps: StartedProcess[] = [];
  const dir = async (name: string) => {
    const d = await mkdtemp(path.join(os.tmpdir(), `switchboard-${name}-`));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    await tearDown({ processes: apps });
    for (const d of dirs) await tearDown({ dataDir: d });
  });

  it('SIGKILL of our process: its Temporal dev server and Postgres stop within seconds and free their ports', async () => {
    const { app, env, node, pids } = await npmStart(await dir('kill-node'));
    apps.push(app);
    expect(isAlive(pids.temporal) && isAlive(pids.postgres)).toBe(true);
    process.kill(node, 'SIGKILL');
    await until('the servers are gone', () => !isAlive(pids.temporal) && !isAlive(pids.postgres));
    for (const port of [env.TEMPORAL_DEV_PORT, env.TEMPORAL_UI_PORT, env.EMBEDDED_POSTGRES_PORT])
      expect(await listening(Number(port)), `port ${port}`).toBe(false);
  });

  it('an orphan that held the port (its watcher killed too) is stopped by the next start in another data directory; SIGKILL of npm stops that start', async () => {
    const first = await npmStart(await dir('orphan'));
    apps.push(first.app);
    // What an older version (or a kill of the whole tree but the server) leaves: the server alone.
    const watchers = childrenOf(first.pids.temporal, 'switchboard-tied');
    expect(watchers).toHaveLength(1);
    process.kill(watchers[0]!, 'SIGKILL');
    process.kill(first.node, 'SIGKILL');
    first.app.child.kill('SIGKILL');
    await until('its Postgres is gone', () => !isAlive(first.pids.postgres));
    expect(isAlive(first.pids.temporal)).toBe(true);
    expect(await listening(Number(first.env.TEMPORAL_DEV_PORT))).toBe(true);

    // The next start, elsewhere, on the same Temporal ports.
    const ports = { TEMPORAL_DEV_PORT: first.env.TEMPORAL_DEV_PORT!, TEMPORAL_UI_PORT: first.env.TEMPORAL_UI_PORT! };
    const second = await npmStart(await dir('after-orphan'), ports).catch((err: Error) => {
      // Who holds the ports, for the failure message.
      const holders = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => Object.values(ports).some((p) => l.includes(`:${p} `)));
      throw new Error(`${err.message}\nlisteners: ${holders.join('\n') || 'none'}`);
    });
    apps.push(second.app);
    // The start on the orphan's ports came up, so the orphan was stopped first: by this start (which
    // says so), or by another start on this machine that got to the shared registry before it.
    expect(isAlive(first.pids.temporal)).toBe(false);
    expect(second.pids.temporal).not.toBe(first.pids.temporal);

    // SIGKILL of npm itself: our process sees it was orphaned and stops everything, as for SIGTERM.
    second.app.child.kill('SIGKILL');
    await until(
      'the second start is gone',
      () => !isAlive(second.node) && !isAlive(second.pids.temporal) && !isAlive(second.pids.postgres),
    );
    for (const port of [ports.TEMPORAL_DEV_PORT, ports.TEMPORAL_UI_PORT, second.env.EMBEDDED_POSTGRES_PORT])
      expect(await listening(Number(port)), `port ${port}`).toBe(false);
  });

  it('a sandbox started by a process that is SIGKILLed (a test file, a benchmark) stops and frees its port', async () => {
    const port = await freePort();
    // A shell stands for the test file: it starts the sandbox, then dies without stopping it.
    const starter = spawn(
      'sh',
      ['-c', `SANDBOX_PORT=${port} ${process.execPath} --import tsx sandbox/main.ts & wait`],
      {
        stdio: 'ignore',
      },
    );
    await until('the sandbox listens', () => listening(port), 60_000);
    const [sandbox] = childrenOf(starter.pid!, 'sandbox/main.ts');
    expect(sandbox).toBeGreaterThan(1);
    process.kill(starter.pid!, 'SIGKILL');
    await until('the sandbox is gone', () => !isAlive(sandbox!));
    expect(await listening(port)).toBe(false);
  });

  it('a registered pid that is now some other program is never signalled', async () => {
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    const port = await freePort();
    // Its owner is gone (an exited process's pid), so the entry reads as an orphan's.
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    try {
      await writeFile(
        path.join(serverRegistryDir(), `temporal-${port}.json`),
        JSON.stringify({ kind: 'temporal', pid: stranger.pid, port, dataDir: '/nowhere', owner: gone.pid }),
      );
      const stopped = await stopOrphanedServers(
        'temporal',
        (argv, e) => argv.includes('start-dev') && e.port === port,
        'SIGTERM',
        1000,
      );
      expect(stopped.map((e) => e.pid)).not.toContain(stranger.pid);
      expect(isAlive(stranger.pid!)).toBe(true);
    } finally {
      await unregisterServer('temporal', port, stranger.pid!);
      stranger.kill('SIGKILL');
    }
  });
});
