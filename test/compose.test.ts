import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** The compose CLI that can parse the file, if this machine has one (no engine is needed to parse). */
function composeCli(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const res = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (res.status === 0) return cmd;
  }
  return undefined;
}

const cli = composeCli();
// The file insists on a master key (no default for a secret); any well-formed one will do here.
const env = { ...process.env, SWITCHBOARD_MASTER_KEY: '0'.repeat(64) };

describe('docker-compose.yml', () => {
  // Skipped only where neither `docker compose` nor `docker-compose` is installed (.ci/run installs one).
  it.skipIf(!cli)('is a valid compose file with Postgres, Temporal, its UI, the API and replicated workers', () => {
    const check = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], {
      encoding: 'utf8',
      env,
    });
    expect(check.status, check.stderr).toBe(0);
    const services = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '--services'], {
      encoding: 'utf8',
      env,
    });
    expect(services.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'api',
      'postgres',
      'temporal',
      'temporal-ui',
      'worker',
    ]);
    const full = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config'], {
      encoding: 'utf8',
      env,
    });
    expect(full.stdout).toMatch(/worker:[\s\S]*replicas: 2/);
    // Without the master key the file refuses to start, naming what to set.
    const missing = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], {
      encoding: 'utf8',
      env: { ...env, SWITCHBOARD_MASTER_KEY: '' },
    });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('SWITCHBOARD_MASTER_KEY');
  });
});
