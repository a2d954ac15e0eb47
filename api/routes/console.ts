import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

/**
 * The web console (console/, built by Vite into console/dist by `npm install`): its files under
 * /console/, every other /console/* path answered with the app's index.html (client-side routes),
 * and `/` redirected there. These responses carry their own strict Content-Security-Policy (the
 * global helmet registration leaves CSP off for the Swagger UI): scripts and styles from this origin
 * only, no inline code, no framing, API calls to this origin only.
 */

export const CONSOLE_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console/dist');

export interface ConsoleOptions {
  /** Where the built console is (default console/dist). */
  distDir?: string;
  /** Extra origins recordings may play from (the provider sandbox's, in sandbox mode). */
  mediaOrigins?: string[];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export function consoleCsp(mediaOrigins: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    // Call recordings live at the voice provider (https), or at the local sandbox.
    `media-src 'self' https: ${mediaOrigins.join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  const dist = opts.distDir ?? CONSOLE_DIST;
  const csp = consoleCsp(opts.mediaOrigins);
  const secure = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', csp)
      .header('cross-origin-opener-policy', 'same-origin')
      .header('referrer-policy', 'no-referrer')
      .header('permissions-policy', 'camera=(), microphone=(), geolocation=()');

  const sendIndex = async (reply: FastifyReply) => {
    const index = path.join(dist, 'index.html');
    if (!existsSync(index)) {
      return secure(reply)
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built. Run `npm run build:console` (or `npm install`) and reload.\n');
    }
    // The index names the current hashed assets: never cached, so a rebuild shows at once.
    return secure(reply)
      .header('cache-control', 'no-cache')
      .type(TYPES['.html']!)
      .send(await readFile(index));
  };

  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/', 301));
  app.get<{ Params: { '*': string } }>('/console/*', { schema: { hide: true } }, async (req, reply) => {
    const rel = req.params['*'] ?? '';
    if (rel.startsWith('assets/')) {
      // Only plain file names under assets/ (hashed by Vite): no traversal, no dot files.
      const name = rel.slice('assets/'.length);
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) return secure(reply).code(404).send();
      const file = path.join(dist, 'assets', name);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) return secure(reply).code(404).type('text/plain').send('not found\n');
      return secure(reply)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .type(TYPES[path.extname(name)] ?? 'application/octet-stream')
        .send(await readFile(file));
    }
    return sendIndex(reply);
  });
};
