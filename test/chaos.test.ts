import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { faultKinds } from '../bench/chaos/kinds.js';
import { runCommand, type StartedProcess } from './support/process.js';

/**
 * The short chaos run (`npm run chaos`, bench/chaos.ts) with smaller loads: every fault kind at
 * least once under load, then every invariant holds. It runs as its own process tree, which stops
 * itself if this test process dies (bench/run.ts watches its parent) and is stopped by afterAll.
 */
describe('chaos: nothing lost, nothing doubled under faults', () => {
  let run: StartedProcess | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGTERM'); // bench/run.ts stops everything it started, then exits
      await run.exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every fault kind injected under load; every call, booking, email, contact and chat as promised; no orphans', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-chaos-test-'));
    const detailFile = path.join(dir, 'chaos-detail.json');
    run = runCommand(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'chaos'], {
      CHAOS_MINUTES: process.env.CHAOS_MINUTES ?? '3',
      CHAOS_CALLS: process.env.CHAOS_CALLS ?? '20',
      CHAOS_LEADS: process.env.CHAOS_LEADS ?? '100',
      CHAOS_CONTACTS: process.env.CHAOS_CONTACTS ?? '5000',
      CHAOS_CHATS: process.env.CHAOS_CHATS ?? '2',
      CHAOS_SETTLE_S: process.env.CHAOS_SETTLE_S ?? '300',
      CHAOS_SETTLE_MAX_S: process.env.CHAOS_SETTLE_MAX_S ?? '600',
      CHAOS_REPORT_FILE: detailFile,
    });
    const code = await run.exited;
    const output = run.output();
    const detail = JSON.parse(await readFile(detailFile, 'utf8').catch(() => 'null')) as {
      seed: number;
      faultsByKind: Record<string, number>;
      violations: { invariant: string; what: string }[];
    } | null;
    expect(detail, `the run wrote no report:\n${output.slice(-4000)}`).not.toBeNull();
    const replay = `replay with CHAOS_SEED=${detail!.seed}\n${output.slice(-6000)}`;
    expect(detail!.violations, replay).toEqual([]);
    for (const kind of faultKinds)
      expect(detail!.faultsByKind[kind], `${kind} never injected; ${replay}`).toBeGreaterThan(0);
    expect(code, replay).toBe(0);
  }, 1_500_000);
});
