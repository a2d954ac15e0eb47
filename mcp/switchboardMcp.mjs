#!/usr/bin/env node
// The `switchboard-mcp` bin: MCP clients (Claude Desktop, …) start it from any directory, so it
// works from the Switchboard checkout — where `.env` and the `.data` of `npm start` live — and loads
// the TypeScript entry through tsx, resolved from this package rather than from the caller's cwd.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
register();
await import(pathToFileURL(join(root, 'runtime', 'mcpStdio.ts')).href);
