import { readdir, readFile } from 'node:fs/promises';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { loadWorkflowBundle } from '../workers/worker.js';

const dir = new URL('./histories/', import.meta.url);

/**
 * Every recorded history under test/histories replays against today's workflow code: a change that
 * would break running workflows (non-determinism) fails here. Record new ones with the CLI
 * (`temporal workflow show -w <id> -o json`) or, for tests that call recordHistory, RECORD_HISTORIES=1.
 */
describe('replay of recorded histories', () => {
  it('replays every history without non-determinism', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThan(0);
    const bundle = await loadWorkflowBundle(`${process.cwd()}/.data`, createLogger('silent', { pretty: false }));
    const histories = (async function* () {
      for (const file of files) {
        yield {
          workflowId: file.replace(/\.json$/, ''),
          history: historyFromJSON(JSON.parse(await readFile(new URL(file, dir), 'utf8'))),
        };
      }
    })();
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
