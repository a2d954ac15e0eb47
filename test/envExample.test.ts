import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** .env.example documents every variable the config reads, and nothing it does not. */
describe('.env.example', () => {
  it('lists exactly the variables lib/config.ts parses', () => {
    const documented = new Set(
      [...readFileSync('.env.example', 'utf8').matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]),
    );
    const parsed = new Set(
      [...readFileSync('lib/config.ts', 'utf8').matchAll(/^\s{2}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]),
    );
    expect(parsed.size).toBeGreaterThan(20);
    expect([...documented].sort()).toEqual([...parsed].sort());
  });
});
