/**
 * `npm run cli -- <command>`: operator commands against the configured Temporal (the embedded dev
 * server of a running `npm start` when TEMPORAL_ADDRESS is unset).
 *
 *   sync --tenant <id> [--mode auto|full|incremental]   start (or join) the tenant's CRM sync and follow it
 */
import { parseArgs } from 'node:util';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
import { loadConfigOrExit } from '../lib/config.js';
import { TenantId, workflowIds } from '../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { crmSync } from '../workflows/crmSync.js';
import { syncProgressQuery, type CrmSyncProgress } from '../workflows/crmSync.contract.js';
import { connectionOptions } from './temporal.js';

const usage = 'usage: npm run cli -- sync --tenant <id> [--mode auto|full|incremental]';

const SyncArgs = z.object({
  tenant: TenantId,
  mode: z.enum(['auto', 'full', 'incremental']).default('auto'),
});

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** One line: a bar when there is a known total, counts, rate and ETA. */
export function progressLine(p: CrmSyncProgress, contactsPerS: number | null, width = 30): string {
  const known = p.total !== null && p.total > 0;
  const ratio = known ? Math.min(1, p.contacts / p.total!) : 0;
  const bar = known ? `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '-')}] ${Math.round(ratio * 100)}% ` : '';
  const eta = known && contactsPerS ? ` · ETA ${Math.max(0, Math.round((p.total! - p.contacts) / contactsPerS))}s` : '';
  const rate = contactsPerS ? ` · ${Math.round(contactsPerS).toLocaleString('en-US')}/s` : '';
  return `${bar}${p.contacts.toLocaleString('en-US')}${known ? `/${p.total!.toLocaleString('en-US')}` : ''} contacts · ${p.pages} pages${rate}${eta} · ${p.state}${p.kind ? ` (${p.kind})` : ''}`;
}

async function sync(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { tenant: { type: 'string' }, mode: { type: 'string' } },
    strict: true,
  });
  const parsed = SyncArgs.safeParse(values);
  if (!parsed.success)
    fail(`${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}\n${usage}`);
  const { tenant, mode } = parsed.data;
  const config = loadConfigOrExit();
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devPort}`;
  const connection = await NativeConnection.connect(connectionOptions(config.temporal, address)).catch((err: Error) =>
    fail(`cannot reach Temporal at ${address} (${err.message}); is \`npm start\` running, or TEMPORAL_ADDRESS set?`),
  );
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const handle = await client.workflow.start(crmSync, {
    taskQueue: config.temporal.taskQueue,
    workflowId: workflowIds.crmSync(tenant, 'ghl'),
    args: [{ tenantId: tenant, mode }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: TenantIdKey, value: tenant },
      { key: WorkflowKindKey, value: 'crmSync' },
    ],
  });
  process.stdout.write(`following ${handle.workflowId} (run ${handle.firstExecutionRunId})\n`);

  const tty = Boolean(process.stdout.isTTY);
  let last: { at: number; contacts: number } | undefined;
  let rate: number | null = null;
  let lastPrinted = 0;
  const result = handle.result();
  let finished = false;
  void result.then(
    () => (finished = true),
    () => (finished = true),
  );
  while (!finished) {
    const p = await handle.query(syncProgressQuery).catch(() => undefined);
    if (p) {
      const now = Date.now();
      if (last && now > last.at) rate = ((p.contacts - last.contacts) * 1000) / (now - last.at) || rate;
      last = { at: now, contacts: p.contacts };
      if (tty) process.stdout.write(`\r\x1b[2K${progressLine(p, rate)}`);
      else if (now - lastPrinted > 5000) {
        process.stdout.write(`${progressLine(p, rate)}\n`);
        lastPrinted = now;
      }
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  try {
    const final = await result;
    process.stdout.write(
      `${tty ? '\r\x1b[2K' : ''}${progressLine(final, rate)}${final.removed ? ` · ${final.removed} removed` : ''}\n`,
    );
    await connection.close();
  } catch (err) {
    const message = err instanceof WorkflowFailedError && err.cause ? err.cause.message : (err as Error).message;
    process.stderr.write(`\nsync failed: ${message}\n`);
    await connection.close();
    process.exit(1);
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'sync') await sync(rest);
else fail(usage);
