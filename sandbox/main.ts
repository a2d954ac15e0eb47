/** `npm run sandbox`: the provider sandbox on its own (SANDBOX_PORT, default 3100; SANDBOX_SEED). */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { DEFAULT_SEED, DEMO_IDS, startSandbox } from './server.js';

const Env = z.object({
  SANDBOX_PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'expected a port number (0-65535)')
    .transform(Number)
    .refine((n) => n <= 65535, 'expected a port number (0-65535)')
    .optional(),
  SANDBOX_SEED: z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .refine((n) => n <= 2 ** 32 - 1, 'expected a number below 2^32')
    .optional(),
  SANDBOX_HOST: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

// Same sources as the app (`.env`, real environment wins), so both agree on SANDBOX_PORT.
const fromFile = existsSync('.env') ? parseDotenv(readFileSync('.env')) : {};
const source: Record<string, string | undefined> = { ...fromFile, ...process.env };
const blankToUndefined = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
const parsed = Env.safeParse({
  SANDBOX_PORT: blankToUndefined(source.SANDBOX_PORT),
  SANDBOX_SEED: blankToUndefined(source.SANDBOX_SEED),
  SANDBOX_HOST: blankToUndefined(source.SANDBOX_HOST),
  LOG_LEVEL: blankToUndefined(source.LOG_LEVEL)?.toLowerCase(),
});
if (!parsed.success) {
  for (const issue of parsed.error.issues) process.stderr.write(`${issue.path.join('.')}: ${issue.message}\n`);
  process.exit(1);
}
const env = parsed.data;
const seed = env.SANDBOX_SEED ?? DEFAULT_SEED;

const sandbox = await startSandbox({
  port: env.SANDBOX_PORT ?? 3100,
  host: env.SANDBOX_HOST,
  seed,
  logLevel: env.LOG_LEVEL ?? 'info',
});
const lines = [
  `Switchboard provider sandbox on ${sandbox.url} (seed ${seed})`,
  ...['ghl', 'vapi', 'retell', 'anthropic', 'sendgrid'].map((p) => `  ${p.padEnd(10)} ${sandbox.url}/${p}`),
  `  control    ${sandbox.url}/__sandbox  (see sandbox/README.md)`,
  'Demo ids:',
  ...Object.entries(DEMO_IDS).map(([k, v]) => `  ${k.padEnd(18)} ${v}`),
];
process.stdout.write(`${lines.join('\n')}\n`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`${signal}: stopping sandbox\n`);
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  await sandbox.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
// Whoever started us (a test file, a benchmark, npm) may die without stopping us, SIGKILL included:
// we notice the orphaning (our parent pid changes) and stop, as the API and worker do.
const parent = process.ppid;
if (parent > 1) {
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    void stop('parent exited');
  }, 500);
  watch.unref();
}
