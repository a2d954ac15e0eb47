import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Embedded servers run in their own process group (so a terminal Ctrl-C reaches only us and we
 * stop them in order), tied to us (spawnTied): if we are SIGKILLed they stop too. Should one
 * outlive us anyway (its watcher killed with us), the next start finds it through the pid it left
 * behind — in its data directory, or in the per-user registry whatever the data directory — and
 * stops it before starting fresh, once its command line shows it is that server.
 */

/** The process runs (a zombie — exited, not yet reaped — does not: it holds no port, no file). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Linux: the state follows the parenthesised command name in /proc/<pid>/stat.
  const stat = readStat(pid);
  return stat === undefined || !/\)\s+Z/.test(stat);
}

function readStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Sends `signal`, waits up to `graceMs` for the process to go, then SIGKILLs it. */
export async function stopPid(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (isAlive(pid)) await sleep(20);
}

/** Stops a leftover process whose pid is the first line of `pidFile` (if it is still alive). */
export async function stopLeftover(
  pidFile: string,
  signal: NodeJS.Signals,
  graceMs: number,
  matches?: ServerMatch,
): Promise<number | undefined> {
  const content = await readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number(content?.split('\n')[0]?.trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !isAlive(pid)) return undefined;
  // A pid file outlives its process; the pid may be another program's by now.
  if (matches) {
    const argv = await commandLine(pid);
    if (!argv || !matches(argv)) {
      await rm(pidFile, { force: true });
      return undefined;
    }
  }
  await stopPid(pid, signal, graceMs);
  await rm(pidFile, { force: true });
  return pid;
}

/** Resolves when the child exits (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Keeps the last `max` characters of a stream, for error messages when a child dies at start. */
export function tail(max = 4000): { push(chunk: Buffer | string): void; text(): string } {
  let buf = '';
  return {
    push(chunk) {
      buf = (buf + chunk.toString()).slice(-max);
    },
    text: () => buf.trim(),
  };
}

/**
 * Runs inside `sh -c`: forks a watcher that holds our end of a pipe (the child's stdin), then execs
 * the server, which keeps the shell's pid. However we exit — SIGKILL included — the kernel closes
 * the pipe; the watcher reads EOF and stops the server ($1 first, SIGKILL after 15 s), then ends. The watcher
 * shares the server's process group, so its pid cannot be reused while the watcher still runs.
 */
const TIED_TO_PARENT = [
  'sig=$1; shift',
  'exec 3<&0',
  '{ read -r _ <&3; kill -"$sig" $$ 2>/dev/null || exit 0; i=0; while [ "$i" -lt 15 ] && kill -0 $$ 2>/dev/null; do sleep 1; i=$((i+1)); done; kill -KILL $$ 2>/dev/null; } </dev/null >/dev/null 2>&1 &',
  'exec "$@" </dev/null 3<&-',
].join('\n');

/**
 * Spawns a server that dies with this process, even when this process is SIGKILLed (see
 * TIED_TO_PARENT). It leads its own process group (a terminal's Ctrl-C reaches only us, and we stop
 * it in order); `child.pid` is the server's own pid. When the server exits, its watcher is let go.
 */
export function spawnTied(
  command: string,
  args: readonly string[],
  opts: Omit<SpawnOptions, 'stdio' | 'detached'> & { stopSignal: NodeJS.Signals; stdout?: 'pipe' | 'ignore' },
): ChildProcess {
  const { stopSignal, stdout = 'pipe', ...rest } = opts;
  const child = spawn(
    '/bin/sh',
    ['-c', TIED_TO_PARENT, 'switchboard-tied', stopSignal.replace(/^SIG/, ''), command, ...args],
    {
      ...rest,
      detached: true,
      stdio: ['pipe', stdout, 'pipe'],
    },
  );
  // Nothing is ever written: only the pipe's closing matters. Closing it lets the watcher go.
  child.stdin?.on('error', () => undefined);
  child.once('exit', () => child.stdin?.destroy());
  return child;
}

/** The command line of a running process (argv), or undefined when it is gone or unreadable. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  const proc = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (proc !== undefined) return proc.split('\0').filter(Boolean);
  // No /proc (macOS): ps gives the command line as one string.
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'command=', '-p', String(pid)], { timeout: 5000 });
    return stdout.trim() ? stdout.trim().split(/\s+/) : undefined;
  } catch {
    return undefined;
  }
}

/** What a server's command line must look like before we stop it by a pid we read from a file. */
export type ServerMatch = (argv: readonly string[]) => boolean;

/** `argv` carries `flag value` (or `flag=value`). */
export const hasArg = (argv: readonly string[], flag: string, value: string): boolean =>
  argv.some((a, i) => (a === flag && argv[i + 1] === value) || a === `${flag}=${value}`);

/**
 * Embedded servers this user started, in every data directory: one file per server under a fixed
 * per-user folder, naming its pid, port, data directory and the process that owns it. A server
 * whose owner is gone is an orphan (its owner was killed before it could stop it, e.g. together
 * with its watcher); the next start anywhere stops it, after checking its command line.
 */
export interface ServerEntry {
  kind: string;
  pid: number;
  port: number;
  dataDir: string;
  owner: number;
}

export function serverRegistryDir(): string {
  const uid = process.getuid?.() ?? os.userInfo().username;
  return path.join(os.tmpdir(), `switchboard-${uid}`, 'servers');
}

const entryFile = (kind: string, port: number) => path.join(serverRegistryDir(), `${kind}-${port}.json`);

export async function registerServer(entry: Omit<ServerEntry, 'owner'>): Promise<void> {
  await mkdir(serverRegistryDir(), { recursive: true, mode: 0o700 });
  await writeFile(entryFile(entry.kind, entry.port), JSON.stringify({ ...entry, owner: process.pid }), { mode: 0o600 });
}

/** Removes the entry of `pid` (a newer server on the same port keeps its own). */
export async function unregisterServer(kind: string, port: number, pid: number): Promise<void> {
  const file = entryFile(kind, port);
  const entry = await readEntry(file);
  if (entry?.pid === pid) await rm(file, { force: true });
}

async function readEntry(file: string): Promise<ServerEntry | undefined> {
  try {
    const e = JSON.parse(await readFile(file, 'utf8')) as Partial<ServerEntry>;
    const ok = [e.pid, e.port, e.owner].every((n) => Number.isInteger(n) && (n as number) > 1);
    return ok && typeof e.kind === 'string' && typeof e.dataDir === 'string' ? (e as ServerEntry) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stops every registered `kind` server whose owner has died and whose command line still matches
 * (`matches`, given its registered port), so a pid reused by an unrelated process is never
 * signalled. Servers with a live owner are left alone. Returns what it stopped.
 */
export async function stopOrphanedServers(
  kind: string,
  matches: (argv: readonly string[], entry: ServerEntry) => boolean,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<ServerEntry[]> {
  const dir = serverRegistryDir();
  const names = await readdir(dir).catch(() => [] as string[]);
  const stopped: ServerEntry[] = [];
  for (const name of names.filter((n) => n.startsWith(`${kind}-`) && n.endsWith('.json'))) {
    const file = path.join(dir, name);
    const entry = await readEntry(file);
    if (!entry || entry.kind !== kind) continue;
    if (entry.owner !== process.pid && isAlive(entry.owner)) continue;
    const argv = isAlive(entry.pid) ? await commandLine(entry.pid) : undefined;
    if (argv && matches(argv, entry)) {
      await stopPid(entry.pid, signal, graceMs);
      stopped.push(entry);
    }
    await rm(file, { force: true });
  }
  return stopped;
}
