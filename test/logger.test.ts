import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { redactedPaths } from '../lib/logger.js';

describe('logs', () => {
  it('never carry credentials: headers and secret-named fields are redacted', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const log = pino({ redact: { paths: redactedPaths, censor: '[redacted]' } }, sink);
    log.info(
      {
        req: { headers: { authorization: 'Bearer sb_secret', 'x-api-key': 'sb_key', 'x-vapi-secret': 'vs' } },
        provider: { apiKey: 'sk-live', token: 'pit-1' },
      },
      'request',
    );
    const out = lines.join('');
    for (const secret of ['sb_secret', 'sb_key', 'vs"', 'sk-live', 'pit-1']) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });
});
