import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../lib/config.js';
import type { Pool } from '../lib/db.js';
import { createApiKey, findTenantKey, generateKey } from '../api/apiKeys.js';

export const DEMO_TENANT = 'demo';

async function readTrimmed(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

/** The platform admin key: SWITCHBOARD_ADMIN_KEY, else `<data dir>/admin-key`, generated (0600) at first start. */
export async function ensureAdminKey(config: Config): Promise<{ key: string; file: string | undefined }> {
  if (config.adminKey) return { key: config.adminKey, file: undefined };
  const file = path.join(config.dataDir, 'admin-key');
  const existing = await readTrimmed(file);
  if (existing) return { key: existing, file };
  await mkdir(config.dataDir, { recursive: true });
  try {
    await writeFile(file, `${generateKey('sbadmin')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process won the race
  }
  return { key: (await readTrimmed(file))!, file };
}

/**
 * With no provider keys configured, the `demo` tenant exists and a key of it sits in
 * `<data dir>/demo-api-key`, so a new user can call the API at once.
 */
export async function ensureDemoTenant(config: Config, pool: Pool): Promise<{ tenantId: string; keyFile: string } | undefined> {
  if (Object.values(config.providers).some((p) => p.mode === 'live')) return undefined;
  const keyFile = path.join(config.dataDir, 'demo-api-key');
  await pool.query(`insert into tenants (id, name) values ($1, 'Demo (sandbox providers)') on conflict (id) do nothing`, [DEMO_TENANT]);
  // The sandbox's demo GoHighLevel location (see sandbox/README.md).
  await pool.query(`insert into crm_connections (tenant_id, location_id) values ($1, 'loc_demo') on conflict do nothing`, [DEMO_TENANT]);
  const existing = await readTrimmed(keyFile);
  const valid = existing ? await findTenantKey(pool, existing) : undefined;
  if (valid?.tenantId !== DEMO_TENANT) {
    const created = await createApiKey(pool, DEMO_TENANT, 'demo key (generated at start)', ['read', 'act', 'admin']);
    await writeFile(keyFile, `${created.key}\n`, { mode: 0o600 });
  }
  return { tenantId: DEMO_TENANT, keyFile };
}
