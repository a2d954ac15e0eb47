import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

/**
 * What must never be in the workflow bundle: zod (the reused V8 context evaluates every module the
 * bundle imports once per workflow run, and zod was the heavy one: README, campaign benchmark) and
 * Node built-ins (not in the workflow sandbox). ESLint forbids the imports (eslint.config.js); this
 * checks what webpack actually bundled, transitive imports included.
 */
function forbiddenInBundle(code: string): string[] {
  const found: string[] = [];
  // Webpack's development bundles name each module by its path; zod's classes name themselves.
  const zodPath = /node_modules\/zod\//.exec(code);
  if (zodPath) found.push(`zod module path: …${code.slice(Math.max(0, zodPath.index - 20), zodPath.index + 60)}…`);
  const zodName = /\$ZodType|\bZodError\b/.exec(code);
  if (zodName) found.push(`zod identifier: ${zodName[0]}`);
  for (const m of code.matchAll(/(?:require\(\s*|import\(\s*|from\s*)(["'`])(node:[\w/]+)\1/g))
    found.push(`Node built-in: ${m[2]}`);
  return found;
}

const bundle = (relative: string) =>
  bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL(relative, import.meta.url)),
    logger: new DefaultLogger('WARN'),
  });

describe('the workflow bundle', () => {
  it('workflows/index.ts bundles without zod or Node built-ins', async () => {
    const { code } = await bundle('../workflows/index.ts');
    expect(code).toContain('readinessProbe');
    expect(forbiddenInBundle(code)).toEqual([]);
  });

  it('the check flags a workflow that imports zod (test/fixtures/zodWorkflow.ts)', async () => {
    const { code } = await bundle('./fixtures/zodWorkflow.ts');
    const found = forbiddenInBundle(code);
    expect(found.some((f) => f.startsWith('zod module path'))).toBe(true);
    expect(found.some((f) => f.startsWith('zod identifier'))).toBe(true);
  });

  it('the check flags Node built-ins however they are loaded (webpack refuses to bundle them, so a sample)', () => {
    expect(
      forbiddenInBundle(`const fs = require("node:fs"); import('node:crypto'); import x from 'node:path';`),
    ).toEqual(['Node built-in: node:fs', 'Node built-in: node:crypto', 'Node built-in: node:path']);
    expect(forbiddenInBundle('const note = "node: a word";')).toEqual([]);
  });
});
