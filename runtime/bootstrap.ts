import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../lib/config.js';
import { parseMasterKey } from '../lib/secrets.js';
import { asSystem, withTenant, type Pool } from '../lib/db.js';
import { createApiKey, findTenantKey, generateKey } from '../api/apiKeys.js';
import { newUserId } from '../api/sessions.js';
import { hashPassword } from '../api/users/passwords.js';

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

/** The master key: SWITCHBOARD_MASTER_KEY, else `<data dir>/master-key`, generated (0600) at first start. */
export async function ensureMasterKey(config: Config): Promise<Buffer> {
  if (config.masterKey) return config.masterKey;
  const file = path.join(config.dataDir, 'master-key');
  if (!(await readTrimmed(file))) {
    await mkdir(config.dataDir, { recursive: true });
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' }).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err; // another process won the race
      },
    );
  }
  const key = parseMasterKey((await readTrimmed(file))!);
  if (!key) throw new Error(`${file} does not hold a 32-byte key (64 hex characters)`);
  return key;
}

/**
 * With no provider keys configured, the `demo` tenant exists and a key of it sits in
 * `<data dir>/demo-api-key`, so a new user can call the API at once.
 */
export async function ensureDemoTenant(
  config: Config,
  pool: Pool,
): Promise<{ tenantId: string; keyFile: string } | undefined> {
  if (Object.values(config.providers).some((p) => p.mode === 'live')) return undefined;
  const keyFile = path.join(config.dataDir, 'demo-api-key');
  // Creating a tenant is a platform (cross-tenant) act; its connection row is the tenant's own.
  await asSystem(pool, (c) =>
    c.query(`insert into tenants (id, name) values ($1, 'Demo (sandbox providers)') on conflict (id) do nothing`, [
      DEMO_TENANT,
    ]),
  );
  // The sandbox's demo GoHighLevel location (see sandbox/README.md).
  await withTenant(pool, DEMO_TENANT, (c) =>
    c.query(`insert into crm_connections (tenant_id, location_id) values ($1, 'loc_demo') on conflict do nothing`, [
      DEMO_TENANT,
    ]),
  );
  const existing = await readTrimmed(keyFile);
  const valid = existing ? await findTenantKey(pool, existing) : undefined;
  if (valid?.tenantId !== DEMO_TENANT) {
    const created = await createApiKey(pool, DEMO_TENANT, 'demo key (generated at start)', ['read', 'act', 'admin']);
    await writeFile(keyFile, `${created.key}\n`, { mode: 0o600 });
  }
  return { tenantId: DEMO_TENANT, keyFile };
}

export const DEMO_OWNER_EMAIL = 'owner@demo.switchboard.example';

/**
 * On the keyless sandbox, an owner of the demo tenant to sign in to the console with: its email and
 * a generated password are written to `<data dir>/demo-console-login` (0600) when the user is
 * created, like the demo API key. An existing user is left as it is (its password may have changed).
 */
export async function ensureDemoOwner(config: Config, pool: Pool, tenantId: string): Promise<string> {
  const file = path.join(config.dataDir, 'demo-console-login');
  const { rowCount } = await withTenant(pool, tenantId, (c) =>
    c.query('select 1 from users where tenant_id = $1 and email = $2', [tenantId, DEMO_OWNER_EMAIL]),
  );
  if (rowCount) return file;
  const password = randomBytes(12).toString('base64url');
  const hash = await hashPassword(password);
  const created = await withTenant(pool, tenantId, (c) =>
    c.query(
      `insert into users (id, tenant_id, email, password_hash, role) values ($1, $2, $3, $4, 'owner')
       on conflict (tenant_id, email) do nothing`,
      [newUserId('usr'), tenantId, DEMO_OWNER_EMAIL, hash],
    ),
  );
  // Another process created it at the same moment: its file is the one that holds.
  if (created.rowCount) await writeFile(file, `${DEMO_OWNER_EMAIL} ${password}\n`, { mode: 0o600 });
  return file;
}
