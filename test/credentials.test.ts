import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredential } from '../domain/credentials.js';
import { decryptSecret, encryptSecret, parseMasterKey } from '../lib/secrets.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';

describe('sealed secrets', () => {
  const key = randomBytes(32);

  it('round-trips, and only for the tenant it was sealed for', () => {
    const sealed = encryptSecret(key, 'tenant-a', 'vapi-secret-123');
    expect(sealed).not.toContain('vapi-secret-123');
    expect(decryptSecret(key, 'tenant-a', sealed)).toBe('vapi-secret-123');
    expect(() => decryptSecret(key, 'tenant-b', sealed)).toThrow();
    expect(() => decryptSecret(randomBytes(32), 'tenant-a', sealed)).toThrow();
    const [v, iv, tag, ct] = sealed.split('.');
    const flipped = Buffer.from(ct!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => decryptSecret(key, 'tenant-a', [v, iv, tag, flipped.toString('base64url')].join('.'))).toThrow();
  });

  it('takes the master key as 64 hex characters or base64 of 32 bytes, nothing else', () => {
    expect(parseMasterKey(key.toString('hex'))?.equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64'))?.equals(key)).toBe(true);
    expect(parseMasterKey('short')).toBeUndefined();
  });
});

describe('tenant voice credentials through the admin API', () => {
  let tp: TestPlatform;
  let keyA: string;
  const secret = 'whsec_vapi_0123456789';

  beforeAll(async () => {
    tp = await startTestPlatform();
    for (const id of ['cred-a', 'cred-b'])
      await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id, name: id } });
    keyA = (
      await call(tp.baseUrl, 'POST', '/v1/admin/tenants/cred-a/keys', {
        key: TEST_ADMIN_KEY,
        body: { name: 'a', scopes: ['admin', 'read'] },
      })
    ).body.key;
  });
  afterAll(() => tp?.stop());

  it('stores the secret sealed, shows only a hint, and unseals it for the tenant', async () => {
    const res = await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/cred-a/credentials/vapi', {
      key: keyA,
      body: { secret, authMode: 'hmac' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ provider: 'vapi', authMode: 'hmac', secretHint: '6789' });
    expect(JSON.stringify(res.body)).not.toContain(secret);

    const { rows } = await tp.adminPool.query('select secret_sealed from tenant_credentials');
    expect(rows).toHaveLength(1);
    expect(rows[0].secret_sealed).not.toContain(secret);
    const masterKey = parseMasterKey((await readFile(path.join(tp.dataDir, 'master-key'), 'utf8')).trim())!;
    expect((await stat(path.join(tp.dataDir, 'master-key'))).mode & 0o777).toBe(0o600);
    expect(await readCredential(tp.platform.pool, masterKey, 'cred-a', 'vapi')).toEqual({ secret, authMode: 'hmac' });
    expect(await readCredential(tp.platform.pool, masterKey, 'cred-b', 'vapi')).toBeUndefined();

    const list = await call(tp.baseUrl, 'GET', '/v1/admin/tenants/cred-a/credentials', { key: keyA });
    expect(list.body.credentials).toEqual([
      expect.objectContaining({ provider: 'vapi', authMode: 'hmac', secretHint: '6789' }),
    ]);
    expect(JSON.stringify(list.body)).not.toContain(secret);
  });

  it("refuses another tenant's key and bad input, writing nothing", async () => {
    expect(
      (
        await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/cred-b/credentials/retell', {
          key: keyA,
          body: { secret: 'retell-key-0001' },
        })
      ).status,
    ).toBe(403);
    const noMode = await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/cred-a/credentials/vapi', {
      key: keyA,
      body: { secret: 'another-secret' },
    });
    expect(noMode.status).toBe(400);
    expect(noMode.body.message).toMatch(/^body\.authMode: required for vapi/);
    const short = await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/cred-a/credentials/retell', {
      key: keyA,
      body: { secret: 'x' },
    });
    expect(short.status).toBe(400);
    expect(short.body.message).toMatch(/^body\.secret/);
    const unknown = await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/cred-a/credentials/twilio', {
      key: keyA,
      body: { secret: 'abcdefghij' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/^params\.provider/);
    const { rows } = await tp.adminPool.query(`select provider, secret_hint from tenant_credentials order by provider`);
    expect(rows).toEqual([{ provider: 'vapi', secret_hint: '6789' }]);
  });
});
