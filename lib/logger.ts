import { pino, type Logger } from 'pino';

/** Paths whose values never reach a log line: credentials in headers, bodies and config. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-vapi-secret"]',
  'req.headers["x-retell-signature"]',
  'req.headers["x-signature"]',
  'req.headers.cookie',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.password',
  '*.secret',
  '*.adminKey',
];

/** JSON lines for machines; readable lines when a person is watching a terminal. */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  return pino({
    name: 'switchboard',
    level,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss' } } } : {}),
  });
}

export type { Logger };
