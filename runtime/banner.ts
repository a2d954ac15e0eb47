import type { Platform } from './platform.js';

/** What `npm start` prints once everything is up: where each part is and what is simulated. */
export function banner(p: Platform): string {
  const c = p.config;
  const providers = Object.entries(c.providers)
    .map(([name, cfg]) => `    ${name.padEnd(10)} ${cfg.mode.padEnd(8)} ${cfg.baseUrl}`)
    .join('\n');
  const uiUrl = p.embedded.temporal?.uiUrl ?? c.temporal.uiUrl ?? "(set TEMPORAL_UI_URL to link your cluster's Web UI)";
  const lines = [
    '',
    '  Switchboard is up',
    `    API              ${p.apiUrl ?? '(not in this process)'}`,
    `    Console          ${p.apiUrl ? `${p.apiUrl}/console/` : '-'}${p.demo?.loginFile ? ` (sign-in in ${p.demo.loginFile})` : ''}`,
    `    OpenAPI docs     ${p.apiUrl ? `${p.apiUrl}/docs` : '-'}`,
    `    MCP endpoint     ${p.apiUrl ? `${p.apiUrl}/mcp` : '-'} (stdio: npm run mcp)`,
    `    Temporal         ${p.temporalAddress}${p.embedded.temporal ? ` (embedded dev server: ${p.embedded.temporal.binary})` : ''}`,
    `    Temporal Web UI  ${uiUrl}`,
    `    Postgres         ${p.embedded.postgres ? `embedded, 127.0.0.1:${c.database.embeddedPort} (data in ${c.dataDir})` : 'DATABASE_URL'}`,
    `    Worker           ${p.worker ? `task queue '${c.temporal.taskQueue}'` : '(not in this process)'}`,
    `    Admin key        ${p.adminKeyFile ?? 'SWITCHBOARD_ADMIN_KEY'}`,
    ...(p.demo ? [`    Demo tenant      '${p.demo.tenantId}', key in ${p.demo.keyFile}`] : []),
    '  Providers',
    providers,
    ...(p.sandboxUrl
      ? [`    (sandbox = the local simulator at ${p.sandboxUrl}; set a provider's key in .env to go live)`]
      : []),
    '  Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n');
}
