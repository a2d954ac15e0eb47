/**
 * Who holds the CPU during a benchmark phase: CPU seconds of this process and every process it
 * started (Temporal dev server, Postgres and its backends, the sandbox, load generators), from
 * /proc (Linux; elsewhere the figures are empty).
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_S = 100;

async function processes(): Promise<Map<number, { ppid: number; ticks: number; label: string }>> {
  const out = new Map<number, { ppid: number; ticks: number; label: string }>();
  const pids = (await readdir('/proc').catch(() => [])).filter((d) => /^\d+$/.test(d));
  await Promise.all(
    pids.map(async (p) => {
      try {
        const stat = await readFile(`/proc/${p}/stat`, 'utf8');
        // Fields after the command (which may hold spaces) in parentheses.
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cmd = (await readFile(`/proc/${p}/cmdline`, 'utf8')).replaceAll('\0', ' ');
        out.set(Number(p), {
          ppid: Number(rest[1]),
          ticks: Number(rest[11]) + Number(rest[12]),
          label: labelOf(cmd),
        });
      } catch {
        // Gone meanwhile.
      }
    }),
  );
  return out;
}

function labelOf(cmd: string): string {
  if (/temporal.*start-dev/.test(cmd)) return 'temporal dev server';
  if (/postgres/.test(cmd)) return 'postgres';
  if (/sandbox\/main/.test(cmd)) return 'sandbox';
  if (/loadgen/.test(cmd)) return 'load generator';
  if (/workers\/main/.test(cmd)) return 'worker process';
  return 'other';
}

/** CPU ticks of this process (label `self`) and its descendants, grouped by label. */
export async function cpuSnapshot(): Promise<Map<string, number>> {
  const all = await processes();
  const mine = new Set([process.pid]);
  // Descendants: walk until no new child is found.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of all)
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
  }
  const by = new Map<string, number>();
  for (const pid of mine) {
    const p = all.get(pid);
    if (!p) continue;
    const label = pid === process.pid ? 'bench process (API, and the worker unless split)' : p.label;
    by.set(label, (by.get(label) ?? 0) + p.ticks);
  }
  return by;
}

/** CPU seconds per label between two snapshots, over `wallS`: as a share of one core. */
export function cpuShare(before: Map<string, number>, after: Map<string, number>, wallS: number): string {
  return [...after]
    .map(([label, t]) => [label, (t - (before.get(label) ?? 0)) / TICKS_PER_S] as const)
    .filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([label, s]) => `${label} ${((100 * s) / wallS).toFixed(0)}%`)
    .join(', ');
}

/**
 * With BENCH_PROFILE=1, a V8 CPU profile of this process while `fn` runs, written to
 * bench/results/<name>.cpuprofile (summarise it with bench/lib/profileSummary.ts).
 */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (process.env.BENCH_PROFILE !== '1') return fn();
  const { Session } = await import('node:inspector/promises');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    const dir = new URL('../results/', import.meta.url);
    await mkdir(dir, { recursive: true });
    await writeFile(new URL(`${name}.cpuprofile`, dir), JSON.stringify(profile));
  }
}

/** CPU milliseconds of all the processes between two snapshots (what a benchmark's work cost, whatever the load). */
export function cpuMs(before: Map<string, number>, after: Map<string, number>): number {
  let ticks = 0;
  for (const [label, t] of after) ticks += t - (before.get(label) ?? 0);
  return (ticks * 1000) / TICKS_PER_S;
}
