/**
 * A bounded map that forgets its least recently used entry past `max`, and entries older than
 * `ttlMs`. Caches fed by unauthenticated input (presented keys, tenant ids in URLs) stay this size
 * whatever is sent.
 */
export class Lru<K, V> {
  private readonly entries = new Map<K, { value: V; until: number }>();

  constructor(
    readonly max: number,
    private readonly ttlMs: number,
  ) {
    if (!(max > 0)) throw new Error('Lru max must be positive');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.until <= Date.now()) return undefined;
    // Map keeps insertion order: re-inserting marks it most recently used.
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Drops every entry whose value matches. */
  deleteWhere(match: (value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (match(entry.value)) this.entries.delete(key);
  }
}
