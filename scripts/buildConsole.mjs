// npm postinstall (and `npm run build:console`): build the web console (console/, Vite) into
// console/dist when its sources changed since the last build. The sources' hash is kept beside the
// output (console/dist/.source-hash), so an unchanged tree costs one directory walk. Never fails the
// install: without the console's sources (a Docker layer before COPY) or without Vite (an install
// without dev dependencies) it says so and stops; the API then answers /console/ with a note.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `--root=<dir>`: another checkout's console (the build script's own test uses a scratch copy).
const rootArg = process.argv.find((a) => a.startsWith('--root='))?.slice('--root='.length);
const root = rootArg ? path.resolve(rootArg) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = path.join(root, 'console');
const outDir = path.join(consoleDir, 'dist');
const hashFile = path.join(outDir, '.source-hash');
const force = process.argv.includes('--force');

/** Every file the build reads: the console's sources and config, and the locked dependency versions. */
function sourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (file === outDir || name === 'node_modules') continue;
      if (statSync(file).isDirectory()) walk(file);
      else hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  };
  walk(consoleDir);
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(lock)) hash.update(readFileSync(lock));
  return hash.digest('hex');
}

async function main() {
  if (!existsSync(path.join(consoleDir, 'index.html'))) {
    console.log('console: no sources here, nothing to build');
    return;
  }
  const hash = sourceHash();
  const built = existsSync(hashFile) ? readFileSync(hashFile, 'utf8').trim() : '';
  if (!force && built === hash && existsSync(path.join(outDir, 'index.html'))) {
    console.log('console: up to date');
    return;
  }
  let vite;
  try {
    vite = await import('vite');
  } catch {
    console.log('console: Vite is not installed (dev dependencies omitted?); the console is not built');
    return;
  }
  const started = Date.now();
  await vite.build({ root: consoleDir, configFile: path.join(consoleDir, 'vite.config.ts'), logLevel: 'warn' });
  writeFileSync(hashFile, `${hash}\n`);
  console.log(`console: built into console/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`console: build failed: ${err instanceof Error ? err.message : String(err)}`);
  // A broken console must not break `npm install` of the platform; `npm run build:console` fails loudly.
  process.exitCode = process.argv.includes('--strict') ? 1 : 0;
});
