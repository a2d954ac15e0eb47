import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { promises as dns } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';

/**
 * Outgoing requests of the authorization server — above all Client ID Metadata Documents, whose
 * URL a stranger chooses (an MCP client's `client_id`). Guarded against SSRF: https only, every
 * address the host name resolves to must be public (checked before anything is sent, and again
 * at connect time through the socket's own lookup, so a DNS answer that changes in between gains
 * nothing), no redirects followed, a size and a time limit.
 */

/** Test only: loopback metadata hosts (http or https, with a test CA) are allowed. */
export interface MetadataFetchPolicy {
  allowLoopback: boolean;
  /** Extra CA (PEM) trusted for https metadata hosts; test only. */
  ca?: string;
  timeoutMs: number;
  maxBytes: number;
}

export const DEFAULT_METADATA_POLICY: MetadataFetchPolicy = {
  allowLoopback: false,
  timeoutMs: 5_000,
  maxBytes: 65_536,
};

// Special-use ranges: private, loopback, link-local, CGNAT, multicast, documentation, reserved.
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Why an address may not be contacted, or undefined when it may. */
export function addressRefusal(
  address: string,
  policy: Pick<MetadataFetchPolicy, 'allowLoopback'>,
): string | undefined {
  let ip = address.replace(/^\[|\]$/g, '');
  const family = isIP(ip);
  if (!family) return `not an IP address: ${address}`;
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  const type = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
  if (policy.allowLoopback && loopback.check(ip, type)) return undefined;
  return blocked.check(ip, type) ? `${address} is a private, loopback or reserved address` : undefined;
}

/**
 * Checks a metadata URL before any request: scheme, and every address its host resolves to.
 * Returns the refusal, or undefined when the URL may be fetched.
 */
export async function metadataUrlRefusal(raw: string, policy: MetadataFetchPolicy): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'https:' && !(policy.allowLoopback && url.protocol === 'http:'))
    return 'the client metadata document must be served over https';
  if (url.username || url.password) return 'the URL must not carry credentials';
  if ((host === 'localhost' || host.endsWith('.localhost')) && !policy.allowLoopback)
    return `${host} is a loopback name`;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return `${host} does not resolve`;
    }
  if (addresses.length === 0) return `${host} does not resolve`;
  for (const a of addresses) {
    const refusal = addressRefusal(a, policy);
    if (refusal) return isIP(host) ? refusal : `${host} resolves to ${refusal}`;
  }
  // The test-only plain-http allowance covers loopback hosts and nothing else.
  if (url.protocol === 'http:' && addresses.some((a) => !loopback.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6')))
    return 'the client metadata document must be served over https';
  return undefined;
}

/** A socket lookup that refuses hosts resolving to special-use addresses (the connect-time check). */
function guardedLookup(policy: MetadataFetchPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as LookupAddress[];
      const bad = list.map((a) => addressRefusal(a.address, policy)).find(Boolean);
      if (bad || list.length === 0)
        return callback(Object.assign(new Error(`refused: ${bad ?? 'no address'}`), { code: 'EREFUSED' }), '', 0);
      if ((options as { all?: boolean }).all) return (callback as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * `fetch` for the authorization server (oidc-provider's `fetch` setting): GET only, guarded as
 * above, redirects answered as they are (never followed), the body cut off past `maxBytes`.
 */
export function guardedFetch(policy: MetadataFetchPolicy) {
  return async (
    input: URL | string,
    init: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown } = {},
  ) => {
    const url = new URL(String(input));
    const refusal = await metadataUrlRefusal(url.href, policy);
    if (refusal) throw new Error(`outgoing request refused: ${refusal}`);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    headers['user-agent'] = 'switchboard-oauth';
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          lookup: guardedLookup(policy),
          timeout: policy.timeoutMs,
          ...(url.protocol === 'https:' && policy.ca ? { ca: policy.ca } : {}),
        },
        (res) => {
          let seen = 0;
          const limited = res.on('data', (chunk: Buffer) => {
            seen += chunk.length;
            if (seen > policy.maxBytes) res.destroy(new Error('response too large'));
          });
          const responseHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
          }
          const status = res.statusCode ?? 502;
          const body = status === 204 || status === 304 ? null : (Readable.toWeb(limited) as ReadableStream);
          resolve(new Response(body, { status, headers: responseHeaders }));
        },
      );
      const timer = setTimeout(() => req.destroy(new Error('client metadata fetch timed out')), policy.timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error('client metadata fetch timed out')));
      req.on('error', reject);
      req.end();
    });
  };
}
