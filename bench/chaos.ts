/**
 * `npm run chaos` (also `npm run bench -- chaos`): nothing lost, nothing doubled under faults.
 *
 * Starts the platform as a user scales it on one machine (bench/chaos/cluster.ts), drives a mixed
 * load for CHAOS_MINUTES (bench/chaos/load.ts), injects faults at moments drawn from CHAOS_SEED
 * (bench/chaos/faults.ts), then — faults off — waits for the work to settle and checks the
 * invariants from the outside (bench/chaos/invariants.ts), stops everything and checks that no
 * process it started is left. Prints the tables, writes bench/results/chaos.json; exit code 1 when
 * any invariant is violated.
 */
import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { isAlive } from '../runtime/processes.js';
import { deriveSeed, Rng } from '../sandbox/random.js';
import { api, removeDataDir } from './lib/platform.js';
import { portOpen, startCluster } from './chaos/cluster.js';
import { faultSchedule, inject } from './chaos/faults.js';
import { faultKinds, type FaultKind } from './chaos/kinds.js';
import {
  checkInvariants,
  checkWebhookCache,
  documentedReason,
  workflowStatuses,
  type Violation,
} from './chaos/invariants.js';
import {
  persist,
  runCalls,
  runChat,
  runContactChanges,
  runReplies,
  sandboxControl,
  sandboxEmails,
  setUpTenants,
  startCampaign,
  startFullSync,
  type Chat,
  type SimulatedCall,
} from './chaos/load.js';
import { report } from './report.js';

function num(name: string, fallback: number, opts: { integer?: boolean; min?: number } = {}): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(v) || v < (opts.min ?? 0) || (opts.integer && !Number.isInteger(v)))
    throw new Error(`${name}: expected a ${opts.integer ? 'whole ' : ''}number ≥ ${opts.min ?? 0}, got ${raw}`);
  return v;
}

export default async function chaos(): Promise<void> {
  const minutes = num('CHAOS_MINUTES', 3, { min: 0.5 });
  const seed = num('CHAOS_SEED', randomInt(1, 2 ** 31), { integer: true, min: 1 });
  const concurrency = num('CHAOS_CALLS', 50, { integer: true, min: 1 });
  const leadCount = num('CHAOS_LEADS', 500, { integer: true, min: 10 });
  const contactCount = num('CHAOS_CONTACTS', 20_000, { integer: true, min: 100 });
  const chatCount = num('CHAOS_CHATS', 3, { integer: true, min: 0 });
  const faultGapS = num('CHAOS_FAULT_GAP_S', 20, { min: 1 });
  // Settling ends when everything is done, when nothing has finished for CHAOS_SETTLE_S (stuck), or
  // at CHAOS_SETTLE_MAX_S in all: a backlog still draining (post-call CRM writes behind GHL's rate
  // limit after a long run) is progress, not a violation.
  const settleS = num('CHAOS_SETTLE_S', 600, { min: 10 });
  const settleMaxS = num('CHAOS_SETTLE_MAX_S', 3 * settleS, { min: settleS });
  const messageDelayMs = num('CHAOS_CALL_MESSAGE_DELAY_MS', 1000, { integer: true });
  console.log(`chaos: seed ${seed} (replay with CHAOS_SEED=${seed}), ${minutes} min, load average ${loadAverage()}`);

  const cluster = await startCluster({ workers: 2 });
  const db = new pg.Pool({ connectionString: cluster.databaseUrl(), max: 3 });
  db.on('error', () => undefined);
  let temporal: Connection | undefined;
  const faults: { kind: FaultKind; atS: number; tookS: number; detail: string }[] = [];
  const violations: Violation[] = [];
  const notes: string[] = [];
  const calls: SimulatedCall[] = [];
  const chats: Chat[] = [];
  const counts = { changes: 0 };
  const held = { durationS: 0, settleS: 0, contacts: 0, reachedCalls: 0, bookings: 0, emailsSent: 0 };
  try {
    const tenants = await setUpTenants(cluster, contactCount);
    const t0 = Date.now();
    const until = t0 + minutes * 60_000;
    const elapsed = () => Math.round((Date.now() - t0) / 100) / 10;

    // --- Load -------------------------------------------------------------------------------------
    // A load that throws is reported as a violation (and the run goes on), never an unhandled rejection.
    const keepGoing = <T>(what: string, p: Promise<T>) =>
      p.catch((err: unknown) => {
        violations.push({ invariant: 'the load ran to its end', what: `${what}: ${(err as Error).message}` });
      });
    const callLoad = keepGoing('calls', runCalls(cluster, { concurrency, until, messageDelayMs }, calls));
    await startFullSync(cluster, tenants);
    const changes = keepGoing(
      'contact changes',
      runContactChanges(cluster, new Rng(deriveSeed(seed, 'contacts')), until, counts),
    );
    const campaign = await startCampaign(cluster, tenants, () => db, new Rng(deriveSeed(seed, 'campaign')), leadCount);
    let campaignSettled = false;
    const replies = keepGoing(
      'campaign replies',
      runReplies(cluster, campaign, () => campaignSettled),
    );
    const chatLoad = keepGoing(
      'chats',
      Promise.all(
        Array.from({ length: chatCount }, async (_, n) => {
          await sleep(((n + 1) / (chatCount + 1)) * (until - t0) * 0.8);
          const chat: Chat = {
            n,
            firstMessageId: `chaos-chat-${n}-0`,
            conversationId: undefined,
            messageIds: [],
            answered: 0,
            slowestAnswerMs: 0,
          };
          chats.push(chat);
          await runChat(cluster, tenants, 3, chat);
        }),
      ),
    );

    // --- Faults -----------------------------------------------------------------------------------
    const faultRng = new Rng(deriveSeed(seed, 'faults'));
    const span = until - t0;
    for (const f of faultSchedule(faultRng, span * 0.08, span * 0.85, faultGapS)) {
      const wait = t0 + f.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      const at = elapsed();
      const detail = await inject(cluster, faultRng, f.kind);
      faults.push({ kind: f.kind, atS: at, tookS: Math.round((elapsed() - at) * 10) / 10, detail });
      console.log(`  ${at.toFixed(1)} s  ${f.kind}: ${detail}`);
    }
    await callLoad;
    await changes;
    held.durationS = (Date.now() - t0) / 1000;
    console.log(`chaos: load over after ${held.durationS.toFixed(0)} s (${calls.length} calls); faults off, settling`);

    // --- Settle (faults off): wait for conditions, bounded ------------------------------------------
    const settleStart = Date.now();
    const settleBy = settleStart + settleS * 1000;
    const settleCap = settleStart + settleMaxS * 1000;
    await Promise.all([cluster.api, ...cluster.workers].map((p) => p.settled()));
    temporal = await Connection.connect({ address: cluster.temporalAddress });
    const client = new Client({ connection: temporal });
    const running = async () =>
      [...(await workflowStatuses(client))]
        .filter(([id, s]) => s === 'RUNNING' && !documentedReason(id))
        .map(([id]) => id);
    const webhooksInFlight = async () =>
      (
        await sandboxControl<{ deliveries: { attempts: unknown[] }[] }>(cluster, 'GET', '/ghl/webhooks')
      ).deliveries.filter((d) => d.attempts.length === 0).length;
    const settle = async (what: string) => {
      let fewest = Infinity;
      let progressAt = Date.now();
      for (;;) {
        const left = await running().catch(() => ['(Temporal not answering)']);
        const hooks = await webhooksInFlight();
        if (!left.length && !hooks) return;
        if (left.length + hooks < fewest) [fewest, progressAt] = [left.length + hooks, Date.now()];
        const stalled = Date.now() - progressAt > settleS * 1000;
        if (stalled || Date.now() > settleCap) {
          const why = stalled ? `nothing finished for ${settleS} s` : `settling took over ${settleMaxS} s`;
          notes.push(
            `${what}: ${left.length} still running (${why}): ${left.slice(0, 5).join(', ')}${left.length > 5 ? ' …' : ''}`,
          );
          return;
        }
        await sleep(2000);
      }
    };
    await Promise.race([chatLoad, sleep(Math.max(0, settleBy - Date.now()))]);
    await settle('work');
    campaignSettled = true;
    await replies;
    violations.push(...(await checkWebhookCache(cluster, db)));
    // What the schedule does: a sync that repairs what webhooks missed (it goes full when counts differ).
    const sync = await persist('final sync', () =>
      api<{ workflowId: string; runId: string }>(cluster.apiUrl, 'POST', '/v1/sync', tenants.crmKey, { mode: 'auto' }),
    );
    await client.workflow.getHandle(sync.workflowId, sync.runId).result();
    await settle('final sync');
    held.settleS = (Date.now() - settleStart) / 1000;

    // --- Invariants -------------------------------------------------------------------------------
    const findings = await checkInvariants(cluster, db, client, { calls, campaign, chats });
    violations.push(...findings.violations);
    notes.push(...findings.notes);
    held.contacts = findings.contacts;
    held.reachedCalls = findings.callsReached;
    held.bookings = findings.bookings;
    held.emailsSent = (await sandboxEmails(cluster)).length;
  } finally {
    await temporal?.close().catch(() => undefined);
    await db.end().catch(() => undefined);
    await cluster.stop();
  }

  // --- No orphans: every pid we started is gone, every port closed -------------------------------
  for (const pid of new Set(cluster.pids()))
    if (isAlive(pid)) violations.push({ invariant: 'no orphan processes', what: `pid ${pid} still running` });
  for (const port of cluster.ports)
    if (await portOpen(port)) violations.push({ invariant: 'no orphan processes', what: `port ${port} still open` });

  // A failed run keeps its data (Postgres, Temporal's SQLite) for the post-mortem.
  if (violations.length) console.log(`kept the run's data directory: ${cluster.dataDir}`);
  else await removeDataDir(cluster.dataDir);

  // --- Report -----------------------------------------------------------------------------------
  const byKind = Object.fromEntries(faultKinds.map((k) => [k, faults.filter((f) => f.kind === k).length]));
  const unplanned = [cluster.api, ...cluster.workers].map((p) => `${p.name} ${p.unplannedExits}`).join(', ');
  console.log('\nLoad held');
  console.table({
    'concurrent calls': concurrency,
    'calls simulated': calls.length,
    'calls that reached the platform': held.reachedCalls,
    bookings: held.bookings,
    'campaign leads': leadCount,
    'emails sent': held.emailsSent,
    'contacts (GHL, at the end)': held.contacts,
    'contact changes (webhooks) during the run': counts.changes,
    'agent conversations': chats.length,
    'slowest chat answer (s)': Math.round(Math.max(0, ...chats.map((ch) => ch.slowestAnswerMs)) / 1000),
    'load duration (s)': Math.round(held.durationS),
    'settling, faults off (s)': Math.round(held.settleS),
    'processes that died on their own': unplanned,
    'load average at the end': loadAverage(),
  });
  console.log('Faults injected by kind');
  console.table(byKind);
  console.table(faults);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`Invariant violations: ${violations.length}`);
  if (violations.length) console.table(violations);
  await report('chaos', {
    faults_injected: faults.length,
    violations: violations.length,
    calls: calls.length,
    leads: leadCount,
    contacts: held.contacts,
    duration_s: held.durationS,
    seed,
  });
  if (process.env.CHAOS_REPORT_FILE)
    await writeFile(
      process.env.CHAOS_REPORT_FILE,
      `${JSON.stringify({ seed, faultsByKind: byKind, faults, violations, notes }, null, 2)}\n`,
    );
  if (violations.length) process.exitCode = 1;
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
