import { rm } from 'node:fs/promises';
import type { TestPlatform } from './platform.js';
import { stopEmbeddedLeftovers, type StartedProcess } from './process.js';
import type { Sandbox } from './sandbox.js';

/**
 * The clean-up of the tests that crash things (`afterAll`), whatever state a test left: every child
 * process SIGKILLed and waited for, then the test platform stopped, then the sandbox closed, then the
 * embedded servers a run left in `dataDir` stopped and the directory removed. Each part is optional
 * (a `beforeAll` may have failed before it was made).
 */
export async function tearDown(parts: {
  processes?: readonly StartedProcess[];
  platform?: TestPlatform | undefined;
  sandbox?: Sandbox | undefined;
  dataDir?: string | undefined;
}): Promise<void> {
  for (const p of parts.processes ?? []) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
  await parts.platform?.stop();
  await parts.sandbox?.close();
  if (parts.dataDir) {
    await stopEmbeddedLeftovers(parts.dataDir);
    await rm(parts.dataDir, { recursive: true, force: true });
  }
}
