import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../api/routes/console.js';

/**
 * How the console is built and served, without a platform: the build runs only when the sources
 * changed, and the API serves the output (assets, client-side routes, nothing else) with its CSP.
 */

const build = (root: string) =>
  execFileSync(process.execPath, ['scripts/buildConsole.mjs', `--root=${root}`, '--strict'], { encoding: 'utf8' });

describe('the console build', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'switchboard-console-build-'));
    await mkdir(path.join(root, 'console/src'), { recursive: true });
    await writeFile(path.join(root, 'package.json'), '{ "type": "module" }');
    await writeFile(
      path.join(root, 'console/index.html'),
      '<!doctype html><html><body><script type="module" src="/src/main.ts"></script></body></html>',
    );
    await writeFile(
      path.join(root, 'console/vite.config.ts'),
      "export default { base: '/console/', logLevel: 'warn' };",
    );
    await writeFile(path.join(root, 'console/src/main.ts'), "document.body.append('one');");
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('builds when the sources changed and skips when they did not', () => {
    expect(build(root)).toMatch(/console: built into console\/dist/);
    expect(build(root)).toContain('console: up to date');
    execFileSync('sh', ['-c', `echo "document.body.append('two');" > ${root}/console/src/main.ts`]);
    expect(build(root)).toMatch(/console: built into console\/dist/);
    expect(build(root)).toContain('console: up to date');
  });
});

describe('serving the console', () => {
  let dist: string;
  let app: FastifyInstance;
  let empty: FastifyInstance;
  beforeAll(async () => {
    dist = await mkdtemp(path.join(os.tmpdir(), 'switchboard-console-dist-'));
    await mkdir(path.join(dist, 'assets'));
    await writeFile(
      path.join(dist, 'index.html'),
      '<!doctype html><script type="module" src="/console/assets/app-1.js"></script>',
    );
    await writeFile(path.join(dist, 'assets/app-1.js'), 'console.log(1)');
    await writeFile(path.join(dist, '.source-hash'), 'x');
    app = Fastify();
    await app.register(consoleRoutes, { distDir: dist, mediaOrigins: ['http://127.0.0.1:3100'] });
    empty = Fastify();
    await empty.register(consoleRoutes, { distDir: path.join(dist, 'nowhere') });
  });
  afterAll(async () => {
    await app.close();
    await empty.close();
    await rm(dist, { recursive: true, force: true });
  });

  it('answers the app for client-side routes and its assets, each with the CSP', async () => {
    const root = await app.inject('/');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
    for (const url of ['/console/', '/console/calls/call%3Aa%3Avapi%3A1', '/console/settings?connected=ghl']) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toMatch(
        /^default-src 'self'; script-src 'self'; style-src 'self'/,
      );
      expect(res.headers['content-security-policy']).toContain("media-src 'self' https: http://127.0.0.1:3100");
    }
    const asset = await app.inject('/console/assets/app-1.js');
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect(asset.headers['cache-control']).toContain('immutable');
    expect(asset.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('serves nothing but the built assets', async () => {
    for (const url of [
      '/console/assets/missing.js',
      '/console/assets/..%2Findex.html',
      '/console/assets/%2E%2E%2F.source-hash',
      '/console/assets/.source-hash',
      '/console/assets/sub/dir.js',
    ]) {
      expect((await app.inject(url)).statusCode, url).toBe(404);
    }
  });

  it('says how to build it when it is not built', async () => {
    const res = await empty.inject('/console/');
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build:console');
  });
});
