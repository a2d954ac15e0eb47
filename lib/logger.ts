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

/**
 * JSON lines for machines; readable lines when a person is watching a terminal. `stderr`: log there
 * instead of stdout (the stdio MCP server, whose stdout carries only protocol messages).
 */
export function createLogger(level: string, opts: { pretty?: boolean; stderr?: boolean } = {}): Logger {
  const out = opts.stderr ? process.stderr : process.stdout;
  const pretty = opts.pretty ?? Boolean(out.isTTY);
  const options = {
    name: 'switchboard',
    level,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss', destination: opts.stderr ? 2 : 1 },
          },
        }
      : {}),
  };
  return pretty || !opts.stderr ? pino(options) : pino(options, pino.destination(2));
}

export type { Logger };
