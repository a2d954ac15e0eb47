import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { sleep } from '../context.js';
import { isSuccess, post, type DeliveryResult } from '../delivery.js';
import { Rng, type IdFactory } from '../random.js';

/**
 * Outbound GHL webhooks, signed like GHL: `x-wh-signature` = base64 RSA-SHA256 over the raw body,
 * and `x-ghl-signature` = base64 Ed25519 over the raw body. The payload carries `webhookId` (dedupe)
 * and `timestamp` (reject if older than 5 minutes). Like GHL, only a 429 answer is retried.
 */
export const webhookEvents = [
  'ContactCreate',
  'ContactUpdate',
  'ContactDelete',
  'ContactTagUpdate',
  'ContactDndUpdate',
  'NoteCreate',
  'TaskCreate',
  'AppointmentCreate',
  'AppointmentUpdate',
  'AppointmentDelete',
  'OpportunityCreate',
  'OpportunityUpdate',
  'OpportunityStatusUpdate',
  'OpportunityDelete',
  'InboundMessage',
  'OutboundMessage',
] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export const SubscriptionInput = z.object({
  url: z.string().url(),
  /** Only events of this location; omitted = all locations. */
  locationId: z.string().min(1).optional(),
  /** Only these event types; omitted = all. */
  events: z.array(z.enum(webhookEvents)).min(1).optional(),
});
export type SubscriptionInput = z.infer<typeof SubscriptionInput>;

export interface Subscription extends SubscriptionInput {
  id: string;
}

export interface WebhookDelivery {
  webhookId: string;
  subscriptionId: string;
  type: WebhookEvent;
  url: string;
  payload: Record<string, unknown>;
  attempts: (DeliveryResult & { at: string })[];
  delivered: boolean;
}

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export class GhlWebhooks {
  private subscriptions: Subscription[] = [];
  deliveries: WebhookDelivery[] = [];
  private rsa: KeyPair | undefined;
  private ed25519: KeyPair | undefined;
  private pending = new Set<Promise<void>>();
  /** Each first delivery waits a random 0–jitterMs (network delays): events may arrive out of order. */
  jitterMs = 0;
  private jitterRng = new Rng(0);

  constructor(
    private readonly ids: () => IdFactory,
    private readonly shutdown: AbortSignal,
  ) {}

  /** Delays drawn from a seeded generator: the same seed gives the same delays in the same order. */
  setJitter(maxMs: number, seed = 0): void {
    this.jitterMs = maxMs;
    this.jitterRng = new Rng(seed);
  }

  /** Keys are made on first use (RSA generation costs ~100 ms) and survive resets. */
  publicKeys(): { rsa: string; ed25519: string } {
    const { rsa, ed } = this.keys();
    return {
      rsa: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      ed25519: ed.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  }

  private keys(): { rsa: KeyPair; ed: KeyPair } {
    this.rsa ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.ed25519 ??= generateKeyPairSync('ed25519');
    return { rsa: this.rsa, ed: this.ed25519 };
  }

  subscribe(input: SubscriptionInput): Subscription {
    const sub = { ...input, id: `whsub_${this.ids().alnum(12)}` };
    this.subscriptions.push(sub);
    return sub;
  }

  list(): Subscription[] {
    return this.subscriptions;
  }

  clear(): void {
    this.subscriptions = [];
    this.deliveries = [];
  }

  get active(): boolean {
    return this.subscriptions.length > 0;
  }

  /** Fire-and-forget: the API answer never waits for our webhook receiver. */
  emit(type: WebhookEvent, locationId: string, data: Record<string, unknown>): void {
    for (const sub of this.subscriptions) {
      if (sub.locationId && sub.locationId !== locationId) continue;
      if (sub.events && !sub.events.includes(type)) continue;
      // The event type wins over a record's own `type` field (contacts have one).
      const payload = { ...data, type, locationId, webhookId: this.ids().uuid(), timestamp: new Date().toISOString() };
      const delivery: WebhookDelivery = {
        webhookId: payload.webhookId,
        subscriptionId: sub.id,
        type,
        url: sub.url,
        payload,
        attempts: [],
        delivered: false,
      };
      this.deliveries.push(delivery);
      if (this.deliveries.length > 5000) this.deliveries.shift();
      const jitter = this.jitterMs > 0 ? this.jitterRng.next() * this.jitterMs : 0;
      const p = sleep(jitter, this.shutdown)
        .then(() => this.deliver(delivery))
        .finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /**
   * Delivers these webhooks once more, one after the other in the given order (same body, same
   * webhookId and timestamp, signed afresh): a duplicated and reordered delivery. Unknown ids are skipped.
   */
  async redeliver(webhookIds: readonly string[]): Promise<{ webhookId: string; status: number | undefined }[]> {
    const out: { webhookId: string; status: number | undefined }[] = [];
    for (const id of webhookIds) {
      const d = this.deliveries.find((x) => x.webhookId === id);
      if (!d) continue;
      await this.deliver(d);
      out.push({ webhookId: id, status: d.attempts.at(-1)?.status });
    }
    return out;
  }

  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private async deliver(d: WebhookDelivery): Promise<void> {
    const body = JSON.stringify(d.payload);
    const { rsa, ed } = this.keys();
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'GoHighLevel-Webhooks (sandbox)',
      'x-wh-signature': sign('sha256', Buffer.from(body), rsa.privateKey).toString('base64'),
      'x-ghl-signature': sign(null, Buffer.from(body), ed.privateKey).toString('base64'),
    };
    for (let attempt = 0; attempt < 4 && !this.shutdown.aborted; attempt++) {
      const result = await post(d.url, body, headers, { timeoutMs: 10_000, shutdown: this.shutdown });
      d.attempts.push({ ...result, at: new Date().toISOString() });
      if (isSuccess(result)) {
        d.delivered = true;
        return;
      }
      if (result.status !== 429) return;
      await sleep(250 * 2 ** attempt, this.shutdown);
    }
  }
}
