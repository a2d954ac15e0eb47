import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Figures = Record<string, number>;

/** Percentile of already-collected samples (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Prints the figures as a table and writes the same numbers to bench/results/<name>.json. */
export async function report(name: string, figures: Figures, notes: Record<string, string> = {}): Promise<void> {
  const rows = Object.entries(figures).map(([key, value]) => ({
    figure: key,
    value: round(value),
    note: notes[key] ?? '',
  }));
  console.table(rows);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, `${JSON.stringify(Object.fromEntries(rows.map((r) => [r.figure, r.value])), null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
