/**
 * The faults, at moments drawn from the run's seed: the schedule holds every kind once (in a seeded
 * order), then more drawn at random for longer runs. One fault at a time; each ends (the process is
 * back, the sandbox fault cleared) before the next begins.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rng } from '../../sandbox/random.js';
import type { Cluster } from './cluster.js';
import { faultKinds, type FaultKind } from './kinds.js';
import { CRM, CRM_LOCATION, sandboxControl } from './load.js';

export interface ScheduledFault {
  atMs: number;
  kind: FaultKind;
}

/** Every kind once, then one more every `gapS` on average, spread over [start, end) ms of the run. */
export function faultSchedule(rng: Rng, startMs: number, endMs: number, gapS: number): ScheduledFault[] {
  const span = Math.max(1, endMs - startMs);
  const count = Math.max(faultKinds.length, Math.round(span / 1000 / gapS));
  const kinds: FaultKind[] = [...faultKinds];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  while (kinds.length < count) kinds.push(faultKinds[rng.int(faultKinds.length)]!);
  // Evenly spaced slots, each moved by up to half a slot: random moments that never bunch up.
  const slot = span / count;
  return kinds.map((kind, i) => ({ atMs: Math.round(startMs + slot * (i + 0.5 + (rng.next() - 0.5) * 0.8)), kind }));
}

/** How long a sandbox-side GHL fault stays on. */
const GHL_FAULT_MS = 8000;

async function ghlFault(c: Cluster, fault: Record<string, unknown>): Promise<void> {
  await sandboxControl(c, 'POST', '/faults', { provider: 'ghl', route: '*', ...fault });
  await sleep(GHL_FAULT_MS);
  await sandboxControl(c, 'DELETE', '/faults');
}

interface SimCall {
  id: string;
  state: string;
}
interface SimDelivery {
  type: string;
  url: string;
  headers: Record<string, string>;
  request: unknown;
}

/**
 * Vapi messages of calls in progress and just ended, posted again as the provider's retries and
 * proxies do: every message once more, in the given order (`reverse`: end-of-call report first).
 */
async function replayVapi(c: Cluster, rng: Rng, order: 'same' | 'reverse'): Promise<number> {
  const { calls } = await sandboxControl<{ calls: SimCall[] }>(c, 'GET', '/vapi/calls');
  const running = calls.filter((x) => x.state === 'running');
  const done = calls.filter((x) => x.state !== 'running').slice(-20);
  const chosen = [...pick(rng, running, 4), ...pick(rng, done, 4)];
  let sent = 0;
  for (const call of chosen) {
    const sim = await sandboxControl<{ deliveries: SimDelivery[] }>(c, 'GET', `/vapi/calls/${call.id}`);
    const deliveries = order === 'reverse' ? [...sim.deliveries].reverse() : sim.deliveries;
    for (const d of deliveries) {
      await fetch(d.url, {
        method: 'POST',
        headers: { ...d.headers, 'content-type': 'application/json' },
        body: JSON.stringify(d.request),
        signal: AbortSignal.timeout(30_000),
      }).then(
        (r) => r.arrayBuffer(),
        () => undefined,
      );
      sent++;
    }
  }
  return sent;
}

/** GHL webhooks delivered again (duplicates), newest first when `reverse`. */
async function replayGhl(c: Cluster, rng: Rng, order: 'same' | 'reverse'): Promise<number> {
  const { deliveries } = await sandboxControl<{ deliveries: { webhookId: string }[] }>(c, 'GET', '/ghl/webhooks');
  const recent = deliveries.slice(-40).filter(() => rng.chance(0.5));
  if (!recent.length) return 0;
  const ids = recent.map((d) => d.webhookId);
  await sandboxControl(c, 'POST', '/ghl/webhooks/redeliver', { webhookIds: order === 'reverse' ? ids.reverse() : ids });
  return ids.length;
}

/** One contact changed three times in a row at GHL: with webhooks delayed at random, they overtake each other. */
async function changeBurst(c: Cluster, rng: Rng): Promise<string> {
  const { contacts } = await sandboxControl<{ contacts: { id: string }[] }>(
    c,
    'GET',
    `/ghl/contacts?locationId=${CRM_LOCATION}&limit=50&offset=${rng.int(50)}`,
  );
  const id = contacts[rng.int(contacts.length)]!.id;
  for (const name of ['Burst1', 'Burst2', 'Burst3']) {
    await fetch(`${c.sandbox.url}/ghl/contacts/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer pit-${CRM}`, version: '2021-07-28', 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: name }),
    });
    await sleep(5); // distinct dateUpdated
  }
  return id;
}

function pick<T>(rng: Rng, items: T[], n: number): T[] {
  const copy = [...items];
  const out: T[] = [];
  while (out.length < n && copy.length) out.push(copy.splice(rng.int(copy.length), 1)[0]!);
  return out;
}

/** Injects one fault and returns once it is over (the platform's processes are back). */
export async function inject(c: Cluster, rng: Rng, kind: FaultKind): Promise<string> {
  switch (kind) {
    case 'worker_kill': {
      const w = c.workers[rng.int(c.workers.length)]!;
      await w.kill();
      return `${w.name} SIGKILLed and restarted`;
    }
    case 'api_kill':
      await c.api.kill();
      return 'API SIGKILLed and restarted';
    case 'temporal_kill':
      await c.killTemporal();
      return 'Temporal dev server SIGKILLed and restarted on its data';
    case 'postgres_restart':
      await c.restartPostgres();
      return 'Postgres restarted';
    case 'ghl_429':
      await ghlFault(c, { status: 429, probability: 0.5 });
      return `GHL answered half its requests 429 for ${GHL_FAULT_MS / 1000} s`;
    case 'ghl_500':
      await ghlFault(c, { status: 500, probability: 0.5 });
      return `GHL answered half its requests 500 for ${GHL_FAULT_MS / 1000} s`;
    case 'ghl_slow':
      await ghlFault(c, { latencyMs: 3000, probability: 0.5 });
      return `GHL answered half its requests 3 s late for ${GHL_FAULT_MS / 1000} s`;
    case 'ghl_drop':
      await ghlFault(c, { reset: true, probability: 0.3 });
      return `GHL dropped 30 % of its connections for ${GHL_FAULT_MS / 1000} s`;
    case 'webhook_duplicate': {
      const vapi = await replayVapi(c, rng, 'same');
      const ghl = await replayGhl(c, rng, 'same');
      return `${vapi} Vapi messages and ${ghl} GHL webhooks delivered twice`;
    }
    case 'webhook_reorder': {
      // GHL webhooks held back at random for a while (later events overtake earlier ones), and
      // duplicates of both providers sent newest first.
      await sandboxControl(c, 'POST', '/ghl/webhooks/jitter', { maxMs: 3000, seed: rng.int(2 ** 31) });
      const burst = await changeBurst(c, rng);
      const vapi = await replayVapi(c, rng, 'reverse');
      const ghl = await replayGhl(c, rng, 'reverse');
      await sleep(GHL_FAULT_MS);
      await sandboxControl(c, 'POST', '/ghl/webhooks/jitter', { maxMs: 0 });
      return `GHL webhooks delayed 0–3 s at random (contact ${burst} changed 3 times at once); ${vapi} Vapi messages and ${ghl} GHL webhooks redelivered newest first`;
    }
  }
}
