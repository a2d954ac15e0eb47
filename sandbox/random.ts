/**
 * Deterministic randomness: every id and every generated value in the sandbox comes from a seeded
 * generator, so the same seed and the same sequence of requests give the same ids and data.
 */

/** mulberry32: tiny, fast, good enough for fake data (not for secrets). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  string(length: number, alphabet: string): string {
    // Several characters per draw: ids are made by the hundred thousand when seeding.
    const base = alphabet.length;
    const perDraw = Math.max(1, Math.floor(Math.log(2 ** 32) / Math.log(base)));
    const range = base ** perDraw;
    let out = '';
    while (out.length < length) {
      let n = Math.floor(this.next() * range);
      for (let i = 0; i < perDraw && out.length < length; i++) {
        out += alphabet[n % base];
        n = Math.floor(n / base);
      }
    }
    return out;
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

/** FNV-1a: derives independent sub-seeds from (seed, label) so providers do not share a stream. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Id factory in the formats the real providers use. */
export class IdFactory {
  constructor(private readonly rng: Rng) {}

  /** GoHighLevel: 20 alphanumerics (e.g. `ocQHyuzHvysMo5N5VsXc`). */
  ghl(): string {
    return this.rng.string(20, ALNUM);
  }

  /** Vapi: UUID v4 layout. */
  uuid(): string {
    const h = this.rng.string(32, HEX);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.rng.int(4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  hex(length: number): string {
    return this.rng.string(length, HEX);
  }

  alnum(length: number): string {
    return this.rng.string(length, ALNUM);
  }
}
