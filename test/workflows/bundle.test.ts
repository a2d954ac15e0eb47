import { describe, expect, it } from 'vitest';
import { bundleWorkflows } from '../support/timeSkipping.js';

/**
 * Workflow code is loaded for every workflow run: it must stay free of zod and of node: modules,
 * and take only types (never code) from activities/ — contracts and state modules included.
 */
describe('the workflow bundle', () => {
  it('holds workflows/ and zod-free lib/ modules only', async () => {
    const { code } = await bundleWorkflows();
    const modules = [...new Set(code.match(/"\.\/[\w/.-]+\.[jt]s"/g) ?? [])].map((m) => m.slice(1, -1)).sort();
    expect(modules).toContain('./workflows/voiceCall.state.ts');
    expect(modules).toContain('./workflows/leadOutreach.contract.ts');
    const ours = modules.filter((m) => !m.startsWith('./node_modules/'));
    expect(ours.filter((m) => !/^\.\/(workflows|lib)\//.test(m))).toEqual([]);
    expect(ours.length).toBeGreaterThan(10);
    expect(modules.filter((m) => m.startsWith('./node_modules/zod/'))).toEqual([]);
    expect(code).not.toMatch(/node_modules\/zod\//);
    expect(code).not.toMatch(/require\(["']node:/);
  });
});
