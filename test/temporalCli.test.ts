import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { locateTemporalCli } from '../runtime/temporal.js';

describe('finding the Temporal CLI', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds a working `temporal` on PATH or in Python scripts folders (what .ci/run installs)', async () => {
    const found = await locateTemporalCli(undefined);
    expect(found).toBeDefined();
    expect(['PATH', 'python-scripts']).toContain(found!.source);
  });

  it('TEMPORAL_CLI_PATH wins, and a binary there that does not run is reported by name', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-cli-'));
    const broken = path.join(dir, 'temporal');
    await writeFile(broken, '#!/bin/sh\nexit 3\n');
    await chmod(broken, 0o755);
    await expect(locateTemporalCli(broken)).rejects.toThrow(`TEMPORAL_CLI_PATH: ${broken} does not run`);

    const working = path.join(dir, 'temporal-ok');
    await writeFile(working, '#!/bin/sh\necho "temporal version 0.0.0"\n');
    await chmod(working, 0o755);
    expect(await locateTemporalCli(working)).toEqual({ path: working, source: 'TEMPORAL_CLI_PATH' });
  });
});
