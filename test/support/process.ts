import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stopLeftover } from '../../runtime/processes.js';
import { freePort } from './ports.js';

export interface StartedProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs one of our entry points the way a user does (`tsx <entry>`), capturing its output. */
export function runEntry(entry: string, env: Record<string, string | undefined>): StartedProcess {
  return runEntryArgs(entry, [], env);
}

export function runEntryArgs(entry: string, args: string[], env: Record<string, string | undefined>): StartedProcess {
  return runCommand(process.execPath, ['--import', 'tsx', entry, ...args], env);
}

/**
 * Any command (e.g. `npm start`, as the README says), capturing its output. `ownGroup`: the command
 * leads its own process group, which a test can signal as a terminal's Ctrl-C does (every process
 * in the foreground group gets it).
 */
export function runCommand(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  opts: { ownGroup?: boolean } = {},
): StartedProcess {
  const fullEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) fullEnv[k] = v;
  const child = spawn(command, args, {
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownGroup ?? false,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Waits until `pattern` shows in the output (or the process dies, or time runs out). */
export async function waitForOutput(p: StartedProcess, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = p.output().match(pattern);
    if (m) return m;
    if (p.child.exitCode !== null)
      throw new Error(`process exited (${p.child.exitCode}) before ${pattern}:\n${p.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Env for a self-contained `npm start` in `dataDir`: embedded Postgres and Temporal on free ports. */
export async function embeddedEnv(dataDir: string): Promise<Record<string, string | undefined>> {
  return {
    SWITCHBOARD_DATA_DIR: dataDir,
    DATABASE_URL: undefined,
    TEMPORAL_ADDRESS: undefined,
    SWITCHBOARD_ADMIN_KEY: undefined,
    API_PORT: '0',
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    SANDBOX_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
}

export async function pidFrom(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8')).split('\n')[0]);
}

export const embeddedPids = async (dataDir: string) => ({
  postgres: await pidFrom(path.join(dataDir, 'postgres', 'postmaster.pid')),
  temporal: await pidFrom(path.join(dataDir, 'temporal.pid')),
});

/** Test clean-up: whatever happened, stop the embedded servers a run left in `dataDir`. */
export async function stopEmbeddedLeftovers(dataDir: string): Promise<void> {
  await stopLeftover(path.join(dataDir, 'postgres', 'postmaster.pid'), 'SIGINT', 10_000);
  await stopLeftover(path.join(dataDir, 'temporal.pid'), 'SIGKILL', 1_000);
}
