import { createHash } from 'node:crypto';
import { readdir, readFile, mkdir, writeFile, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type NativeConnectionOptions,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const workflowsPath = path.join(root, 'workflows', 'index.ts');

let runtimeInstalled = false;
/** Routes the SDK's own logs (warnings and errors) through pino; once per process. */
function installRuntime(log: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLog = log.child({ component: 'temporal-sdk' });
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
        sdkLog[level === 'ERROR' ? 'error' : 'warn'](meta ?? {}, message);
      }),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
    });
  } catch (err) {
    // A runtime made earlier in this process (e.g. by a TestWorkflowEnvironment) is kept as it is.
    if ((err as Error).name !== 'IllegalStateError') throw err;
  }
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * Bundling workflow code with webpack takes seconds; a bundle is cached under the data directory,
 * keyed by the workflow sources and the SDK version, so a warm start skips it.
 */
export async function loadWorkflowBundle(dataDir: string, log: Logger): Promise<{ code: string }> {
  const hash = createHash('sha256');
  const sdkVersion = (createRequire(import.meta.url)('@temporalio/workflow/package.json') as { version: string })
    .version;
  hash.update(sdkVersion);
  for (const file of [
    ...(await sourceFiles(path.join(root, 'workflows'))),
    ...(await sourceFiles(path.join(root, 'lib'))),
  ]) {
    hash.update(path.relative(root, file)).update(await readFile(file));
  }
  const cacheDir = path.join(dataDir, 'workflow-bundles');
  const cached = path.join(cacheDir, `${hash.digest('hex').slice(0, 16)}.js`);
  const hit = await readFile(cached, 'utf8').catch(() => undefined);
  if (hit) return { code: hit };
  const started = Date.now();
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}.tmp`;
  await writeFile(tmp, code);
  await rename(tmp, cached);
  log.info({ ms: Date.now() - started }, 'bundled workflow code');
  return { code };
}

export interface WorkerHandle {
  worker: Worker;
  /** Resolves when the worker has stopped (after `shutdown()`, once in-flight tasks drain). */
  running: Promise<void>;
  shutdown(): Promise<void>;
}

/** Connects to Temporal through the SDK's native runtime (logs routed to pino); workers and clients share it. */
export async function connectNative(options: NativeConnectionOptions, log: Logger): Promise<NativeConnection> {
  installRuntime(log);
  return NativeConnection.connect(options);
}

export async function startWorker(opts: {
  config: Config;
  connection: NativeConnection;
  deps: ActivityDeps;
  log: Logger;
}): Promise<WorkerHandle> {
  const { config, log } = opts;
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: await loadWorkflowBundle(config.dataDir, log),
    activities: createActivities(opts.deps),
    reuseV8Context: true,
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentLocalActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
    maxCachedWorkflows: config.worker.maxCachedWorkflows,
    shutdownGraceTime: '10s',
  });
  const running = worker.run();
  log.info({ taskQueue: config.temporal.taskQueue }, 'worker polling');
  return {
    worker,
    running,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
