/**
 * `npm run bench -- <name>` runs bench/<name>.ts, whose default export measures and calls report().
 * Benchmarks are not tests: they print figures; targets are judged by people reading them.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stopAll } from './lib/cleanup.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = (await readdir(dir))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f))
  .map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (available: ${available.join(', ') || 'none'})`);
  process.exit(2);
}
// Interrupted (Ctrl-C, a CI timeout): stop what the benchmark started, then go.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));
// Orphaned (whoever started us was SIGKILLed, e.g. a test runner): the same.
const parent = process.ppid;
const orphaned = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphaned);
  void stopAll().finally(() => process.exit(130));
}, 500);
orphaned.unref();
const mod = (await import(`./${name}.ts`)) as { default: () => Promise<void> };
try {
  await mod.default();
} catch (err) {
  console.error(`bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
process.exit(process.exitCode ?? 0);
