/**
 * Every request the sandbox receives, with status and timing, in a bounded ring buffer
 * (`GET /__sandbox/requests`). Bounded so a benchmark cannot exhaust memory.
 */
export interface RequestRecord {
  seq: number;
  at: string;
  provider: string;
  method: string;
  url: string;
  /** Route pattern relative to the provider prefix, e.g. `/contacts/:contactId`. */
  route: string;
  status: number;
  ms: number;
  query?: unknown;
  body?: unknown;
  /** Set when a fault was injected into this request. */
  fault?: string;
}

/** Stored form: the time stays a number until someone reads the log. */
interface StoredRecord extends Omit<RequestRecord, 'at'> {
  atMs: number;
}

export class RequestLog {
  private readonly buffer: (StoredRecord | undefined)[];
  private nextSeq = 1;

  constructor(readonly capacity = 20_000) {
    this.buffer = new Array(capacity);
  }

  add(record: Omit<StoredRecord, 'seq'>): void {
    const seq = this.nextSeq++;
    const i = seq % this.capacity;
    const slot = this.buffer[i];
    // Slots are reused once the ring is full: no new long-lived object per request, which keeps
    // old-generation garbage (and full GCs over a big seeded heap) down under load.
    if (slot) Object.assign(slot, record).seq = seq;
    else this.buffer[i] = { seq, ...record };
  }

  get total(): number {
    return this.nextSeq - 1;
  }

  /** Records after sequence number `sinceSeq` (exclusive) or at/after `sinceMs`, oldest first. */
  list(filter: { provider?: string; sinceSeq?: number; sinceMs?: number; limit: number }): RequestRecord[] {
    const first = Math.max(1, this.nextSeq - this.capacity, (filter.sinceSeq ?? 0) + 1);
    const out: RequestRecord[] = [];
    for (let seq = first; seq < this.nextSeq && out.length < filter.limit; seq++) {
      const r = this.buffer[seq % this.capacity];
      if (!r || r.seq !== seq) continue;
      if (filter.provider && r.provider !== filter.provider) continue;
      if (filter.sinceMs !== undefined && r.atMs < filter.sinceMs) continue;
      const { atMs, query, body, fault, ...rest } = r;
      out.push({
        ...rest,
        at: new Date(atMs).toISOString(),
        ...(query !== undefined ? { query } : {}),
        ...(body !== undefined ? { body } : {}),
        ...(fault !== undefined ? { fault } : {}),
      });
    }
    return out;
  }

  clear(): void {
    this.buffer.fill(undefined);
    // Sequence numbers keep growing so a `since` cursor held across a reset stays valid.
  }
}
