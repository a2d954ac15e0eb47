import { z } from 'zod';
import { providerNames } from './context.js';
import type { Rng } from './random.js';

/**
 * Injected failures per provider route: an error status, added latency (a latency beyond the
 * client's timeout is a timeout), or both; with a probability and an optional count.
 */
export const FaultInput = z.object({
  provider: z.enum(providerNames),
  /** `*`, a path (`/contacts/search`), a route pattern (`/contacts/:contactId`), a prefix (`/contacts/*`), optionally preceded by a method (`POST /contacts/search`). */
  route: z.string().min(1).default('*'),
  status: z.number().int().min(400).max(599).optional(),
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  /** Drop the connection without an answer (after latencyMs): the client sees a network error. */
  reset: z.boolean().optional(),
  probability: z.number().min(0).max(1).default(1),
  count: z.number().int().min(1).optional(),
  message: z.string().optional(),
});
export type FaultInput = z.infer<typeof FaultInput>;

export interface Fault extends Omit<FaultInput, 'count'> {
  id: string;
  method: string | undefined;
  path: string;
  /** Applications left; undefined = unlimited. */
  remaining: number | undefined;
  hits: number;
}

export class FaultTable {
  private faults: Fault[] = [];
  private nextId = 1;

  add(input: FaultInput): Fault {
    const m = /^(GET|POST|PUT|PATCH|DELETE)\s+(.+)$/i.exec(input.route.trim());
    const fault: Fault = {
      ...input,
      id: `fault_${this.nextId++}`,
      method: m ? m[1]!.toUpperCase() : undefined,
      path: (m ? m[2]! : input.route).trim(),
      remaining: input.count,
      hits: 0,
    };
    this.faults.push(fault);
    return fault;
  }

  clear(): void {
    this.faults = [];
  }

  list(): Fault[] {
    return this.faults;
  }

  get size(): number {
    return this.faults.length;
  }

  /** The first fault matching this request that fires (probability drawn from the seeded rng). */
  match(provider: string, method: string, path: string, routePattern: string, rng: Rng): Fault | undefined {
    if (this.faults.length === 0) return undefined;
    for (const f of this.faults) {
      if (f.provider !== provider) continue;
      if (f.method && f.method !== method) continue;
      if (!pathMatches(f.path, path, routePattern)) continue;
      if (f.probability < 1 && !rng.chance(f.probability)) continue;
      f.hits++;
      if (f.remaining !== undefined) {
        f.remaining--;
        if (f.remaining <= 0) this.faults = this.faults.filter((x) => x !== f);
      }
      return f;
    }
    return undefined;
  }
}

function pathMatches(pattern: string, path: string, routePattern: string): boolean {
  if (pattern === '*' || pattern === '/*') return true;
  const trim = (s: string) => (s.length > 1 ? s.replace(/\/+$/, '') : s);
  const p = trim(pattern);
  if (p.endsWith('/*')) return path.startsWith(p.slice(0, -1)) || routePattern.startsWith(p.slice(0, -1));
  return p === trim(path) || p === trim(routePattern);
}
