import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addressRefusal,
  DEFAULT_METADATA_POLICY,
  guardedFetch,
  metadataUrlRefusal,
} from '../api/oauth/clientMetadata.js';

/**
 * The SSRF guard in front of Client ID Metadata Documents (and every other request the
 * authorization server sends): which URLs are refused before any request, and what the fetch
 * itself enforces (no redirects followed, size and time limits).
 */

const strict = DEFAULT_METADATA_POLICY;
const loopbackOk = { ...DEFAULT_METADATA_POLICY, allowLoopback: true, timeoutMs: 500, maxBytes: 1024 };

describe('client metadata fetch guard', () => {
  let server: http.Server;
  let base = '';
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        return res.end();
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ pad: 'x'.repeat(4096) }));
      }
      if (req.url === '/slow') return setTimeout(() => res.end('{}'), 2_000).unref();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('refuses private, loopback, link-local, CGNAT and reserved addresses, IPv4 and IPv6', () => {
    for (const ip of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '127.0.0.1',
      '127.9.9.9',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      '::ffff:10.0.0.1',
      '::ffff:127.0.0.1',
      '64:ff9b::a00:1',
    ])
      expect(addressRefusal(ip, strict), ip).toBeTruthy();
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(addressRefusal(ip, strict), ip).toBeUndefined();
    // The test-only allowance covers loopback only, never other private ranges.
    expect(addressRefusal('127.0.0.1', loopbackOk)).toBeUndefined();
    expect(addressRefusal('::1', loopbackOk)).toBeUndefined();
    expect(addressRefusal('10.0.0.1', loopbackOk)).toBeTruthy();
  });

  it('refuses before any request: http, credentials in the URL, names that resolve to loopback', async () => {
    expect(await metadataUrlRefusal('http://client.example/meta.json', strict)).toMatch(/https/);
    expect(await metadataUrlRefusal('https://user:pw@client.example/meta.json', strict)).toMatch(/credentials/);
    expect(await metadataUrlRefusal('https://127.0.0.1/meta.json', strict)).toMatch(/loopback/);
    expect(await metadataUrlRefusal('https://[::1]/meta.json', strict)).toMatch(/loopback/);
    expect(await metadataUrlRefusal('https://localhost/meta.json', strict)).toMatch(/loopback/);
    expect(await metadataUrlRefusal('https://no-such-host.invalid/meta.json', strict)).toMatch(/does not resolve/);
    // Even with loopback allowed (tests), plain http to a public host stays refused.
    expect(await metadataUrlRefusal('http://8.8.8.8/meta.json', loopbackOk)).toMatch(/https/);
    expect(await metadataUrlRefusal(`${base}/meta.json`, loopbackOk)).toBeUndefined();
    const before = hits;
    await expect(guardedFetch(strict)(`${base}/meta.json`)).rejects.toThrow(/refused/);
    expect(hits).toBe(before);
  });

  it('answers a redirect as it is (not followed), cuts off big bodies and slow servers', async () => {
    const fetchIt = guardedFetch(loopbackOk);
    const ok = await fetchIt(`${base}/meta.json`);
    expect(await ok.json()).toEqual({ ok: true });
    const redirect = await fetchIt(`${base}/redirect`);
    expect(redirect.status).toBe(302);
    const big = await fetchIt(`${base}/big`);
    await expect(big.text()).rejects.toThrow();
    await expect(fetchIt(`${base}/slow`)).rejects.toThrow(/timed out/);
  });
});
