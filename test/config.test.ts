import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../lib/config.js';

const problemsOf = (env: Record<string, string>) => {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('configuration from the environment', () => {
  it('defaults to the embedded, keyless set-up', () => {
    const c = parseConfig({});
    expect(c.api).toMatchObject({ host: '127.0.0.1', port: 3000 });
    expect(c.database.url).toBeUndefined();
    expect(c.temporal).toMatchObject({ address: undefined, namespace: 'default', devPort: 7233, uiPort: 8233 });
    expect(Object.values(c.providers).every((p) => p.mode === 'sandbox')).toBe(true);
    expect(c.providers.ghl.baseUrl).toBe('http://127.0.0.1:3100/ghl');
  });

  it('a provider key makes that provider live', () => {
    const c = parseConfig({ VAPI_API_KEY: 'vk', GHL_API_TOKEN: 'pit', GHL_BASE_URL: 'https://ghl.example.com/' });
    expect(c.providers.vapi).toMatchObject({ mode: 'live', baseUrl: 'https://api.vapi.ai' });
    expect(c.providers.ghl).toMatchObject({ mode: 'live', baseUrl: 'https://ghl.example.com' });
    expect(c.providers.retell.mode).toBe('sandbox');
  });

  it('names each bad variable with what it expected and what it got, one line each', () => {
    expect(
      problemsOf({ TEMPORAL_ADDRESS: 'x', API_PORT: 'abc', DATABASE_URL: 'mysql://h/db', TEMPORAL_TLS: 'maybe' }),
    ).toEqual([
      'API_PORT: expected a port number (0-65535), got "abc"',
      'DATABASE_URL: expected a postgres:// URL, got "mysql://h/db"',
      'TEMPORAL_ADDRESS: expected host:port, got "x"',
      'TEMPORAL_TLS: expected true or false, got "maybe"',
    ]);
    expect(problemsOf({ SWITCHBOARD_ADMIN_KEY: 'short' })).toEqual([
      'SWITCHBOARD_ADMIN_KEY: expected at least 24 characters, got "short"',
    ]);
    expect(problemsOf({ TEMPORAL_TLS_CERT_PATH: '/nope/cert.pem' })[0]).toMatch(/^TEMPORAL_TLS_CERT_PATH: /);
  });

  it('API_TRUST_PROXY takes a hop count or proxy addresses, and names anything else', () => {
    expect(parseConfig({}).api.trustProxy).toBeUndefined();
    expect(parseConfig({ API_TRUST_PROXY: '2' }).api.trustProxy).toBe(2);
    expect(parseConfig({ API_TRUST_PROXY: '10.0.0.0/8, 192.168.1.7' }).api.trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
    ]);
    expect(() => parseConfig({ API_TRUST_PROXY: 'yes please' })).toThrow(
      /API_TRUST_PROXY: expected a number of proxy hops/,
    );
  });

  it('Temporal Cloud settings turn TLS on', () => {
    const c = parseConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'k',
    });
    expect(c.temporal.tls).toBeDefined();
    expect(c.temporal.apiKey).toBe('k');
  });

  it('a bad value stops `npm start` with the readable lines and exit code 1, before starting anything', () => {
    const res = spawnSync('npx', ['tsx', 'runtime/start.ts'], {
      env: { ...process.env, TEMPORAL_ADDRESS: 'x', API_PORT: '99999' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('TEMPORAL_ADDRESS: expected host:port, got "x"');
    expect(res.stderr).toContain('API_PORT: expected a port number (0-65535), got "99999"');
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
