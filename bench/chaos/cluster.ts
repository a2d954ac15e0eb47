/**
 * The platform as a user scales it on one machine: an embedded Postgres and the Temporal dev server
 * (children of this process, restartable on their data directory), the provider sandbox, the API
 * (`npm run api`) and two workers (`npm run worker`) each in a process of its own, all on free
 * ports. A supervisor restarts the API and the workers when they die — killed by a fault, or on
 * their own when a server they need went away — as a process manager would.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../runtime/embeddedPostgres.js';
import { isAlive } from '../../runtime/processes.js';
import { startDevServer, type DevServer } from '../../runtime/temporal.js';
import { freePort } from '../../test/support/ports.js';
import { runEntry, waitForOutput, type StartedProcess } from '../../test/support/process.js';
import { stopOnExit } from '../lib/cleanup.js';
import { BENCH_ADMIN_KEY, benchDataDir, startSandboxProcess, type SandboxProcess } from '../lib/platform.js';

const log = createLogger('warn', { pretty: false });

/** A process we run and keep running (restarted when it exits without our asking). */
export class Supervised {
  private current: StartedProcess | undefined;
  private stopping = false;
  private started = 0;
  /** Exits nobody asked for (a process that died of another fault, e.g. its database went away). */
  unplannedExits = 0;
  readonly pids: number[] = [];

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: () => Record<string, string>,
    private readonly ready: (p: StartedProcess) => Promise<void>,
  ) {}

  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  /** Starts (or restarts) the process and resolves once it is ready; retries while it dies at start. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const p = runEntry(this.entry, this.env());
      this.current = p;
      this.started++;
      if (p.child.pid) this.pids.push(p.child.pid);
      void p.exited.then(() => this.onExit(p));
      try {
        await this.ready(p);
        return;
      } catch (err) {
        if (this.stopping) return;
        p.child.kill('SIGKILL');
        await p.exited;
        // Its Postgres or Temporal may be restarting right now: try again a little later.
        if (attempt >= 20) throw new Error(`${this.name} would not start: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }

  private restarting: Promise<void> | undefined;

  private onExit(p: StartedProcess): void {
    if (this.stopping || p !== this.current || this.killing) return;
    this.unplannedExits++;
    this.restarting ??= sleep(500)
      .then(() => this.start())
      .finally(() => (this.restarting = undefined));
  }

  private killing = false;

  /** SIGKILL, then start again (the fault "kill this process"). */
  async kill(): Promise<void> {
    await this.restarting;
    const p = this.current;
    if (!p) return;
    this.killing = true;
    p.child.kill('SIGKILL');
    await p.exited;
    this.killing = false;
    await this.start();
  }

  /** Waits for a restart in flight (a process that died on its own). */
  async settled(): Promise<void> {
    while (this.restarting) await this.restarting;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarting?.catch(() => undefined);
    const p = this.current;
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGTERM');
    const gone = await Promise.race([p.exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!gone) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }

  output(): string {
    return this.current?.output() ?? '';
  }
}

export interface Cluster {
  dataDir: string;
  apiUrl: string;
  sandbox: SandboxProcess;
  databaseUrl: () => string;
  temporalAddress: string;
  api: Supervised;
  workers: Supervised[];
  killTemporal(): Promise<void>;
  restartPostgres(): Promise<void>;
  /** Every pid we started, and every port we listened on (for the orphan check). */
  pids(): number[];
  ports: number[];
  stop(): Promise<void>;
}

/** `/health` answers: the API process listens. */
async function apiListening(url: string, p: StartedProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null || p.child.signalCode !== null)
      throw new Error(`API exited at start:\n${p.output().slice(-2000)}`);
    const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`API not listening after ${timeoutMs} ms:\n${p.output().slice(-2000)}`);
    await sleep(250);
  }
}

export async function startCluster(opts: { workers: number }): Promise<Cluster> {
  const dataDir = await benchDataDir('chaos');
  const ports = {
    api: await freePort(),
    pg: await freePort(),
    temporal: await freePort(),
    ui: await freePort(),
  };
  const sandbox = await startSandboxProcess();
  const keys = (await (await fetch(`${sandbox.url}/__sandbox/ghl/webhook-keys`)).json()) as {
    'x-ghl-signature': { publicKey: string };
  };
  const sandboxPids = sandbox.pid ? [sandbox.pid] : [];

  const config = parseConfig({
    SWITCHBOARD_DATA_DIR: dataDir,
    TEMPORAL_DEV_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
  });
  const serverPids: number[] = [];
  let postgres: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir, port: ports.pg, log });
  serverPids.push(postgres.pid);
  const stopPostgres = stopOnExit('embedded Postgres', () => postgres.stop());
  let temporal: DevServer = await startDevServer({ config: config.temporal, dataDir, log });
  if (temporal.pid) serverPids.push(temporal.pid);
  const stopTemporal = stopOnExit('Temporal dev server', () => temporal.stop());

  const apiUrl = `http://127.0.0.1:${ports.api}`;
  // The providers are the sandbox's, as tenants connect them (their own GHL location, Vapi, SendGrid);
  // Claude is a platform service.
  const env = (extra: Record<string, string>) => (): Record<string, string> => ({
    SWITCHBOARD_DATA_DIR: dataDir,
    DATABASE_URL: postgres.url,
    DATABASE_POOL_SIZE: '10',
    TEMPORAL_ADDRESS: temporal.address,
    API_PORT: String(ports.api),
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    SWITCHBOARD_ADMIN_KEY: BENCH_ADMIN_KEY,
    SANDBOX_PORT: String(sandbox.port),
    GHL_API_TOKEN: 'chaos-ghl-token',
    GHL_BASE_URL: `${sandbox.url}/ghl`,
    GHL_WEBHOOK_ED25519_PUBLIC_KEY: keys['x-ghl-signature'].publicKey,
    VAPI_API_KEY: 'chaos-vapi-key',
    VAPI_BASE_URL: `${sandbox.url}/vapi`,
    ANTHROPIC_API_KEY: 'chaos-anthropic-key',
    ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
    ...extra,
  });
  const api = new Supervised('api', 'api/main.ts', env({ LOG_LEVEL: 'warn' }), (p) => apiListening(apiUrl, p));
  const workers = Array.from(
    { length: opts.workers },
    (_, i) =>
      new Supervised(`worker-${i + 1}`, 'workers/main.ts', env({ LOG_LEVEL: 'info' }), async (p) => {
        await waitForOutput(p, /worker polling/, 120_000);
      }),
  );
  const stopProcesses = stopOnExit('API and workers', async () => {
    await Promise.all([api, ...workers].map((s) => s.stop()));
  });
  try {
    await api.start(); // migrates first
    await Promise.all(workers.map((w) => w.start()));
  } catch (err) {
    await stopProcesses();
    throw err;
  }

  return {
    dataDir,
    apiUrl,
    sandbox,
    databaseUrl: () => postgres.url,
    temporalAddress: temporal.address,
    api,
    workers,
    async killTemporal() {
      const pid = temporal.pid;
      if (pid) process.kill(pid, 'SIGKILL');
      while (pid && isAlive(pid)) await sleep(20);
      await temporal.stop().catch(() => undefined); // its pid file and registry entry
      temporal = await startDevServer({ config: config.temporal, dataDir, log });
      if (temporal.pid) serverPids.push(temporal.pid);
    },
    async restartPostgres() {
      await postgres.stop();
      postgres = await startEmbeddedPostgres({ dataDir, port: ports.pg, log });
      serverPids.push(postgres.pid);
    },
    pids: () => [...sandboxPids, ...serverPids, ...api.pids, ...workers.flatMap((w) => w.pids)],
    ports: [ports.api, ports.pg, ports.temporal, ports.ui, sandbox.port],
    async stop() {
      await stopProcesses();
      await stopTemporal();
      await stopPostgres();
      await sandbox.stop();
    },
  };
}

/** Something still accepts connections on the port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
