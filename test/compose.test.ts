import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** The compose CLI that can parse the file, if this machine has one (no engine is needed to parse). */
function composeCli(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const res = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (res.status === 0) return cmd;
  }
  return undefined;
}

const cli = composeCli();
// The file insists on its secrets (no defaults for them); any well-formed ones will do here.
const env = {
  ...process.env,
  SWITCHBOARD_MASTER_KEY: '0'.repeat(64),
  SWITCHBOARD_ADMIN_KEY: 'a'.repeat(32),
  POSTGRES_PASSWORD: 'pg-superuser-secret',
  SWITCHBOARD_DB_PASSWORD: 'app-secret',
  TEMPORAL_DB_PASSWORD: 'temporal-secret',
};
const SERVICES = ['api', 'postgres', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui', 'worker'];

interface Service {
  image?: string;
  ports?: (string | { published?: string | number; target?: number; host_ip?: string })[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  command?: string | string[];
  volumes?: string[];
}
const file = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  'x-switchboard-env': Record<string, string>;
};
const services = file.services;
const command = (s: Service) => [s.command ?? []].flat().join(' ');
/** postgres://user:password@host:port/db, where the password is a ${...} placeholder (no URL parser takes it). */
function dbUrl(): { username: string; password: string } {
  const m = /^postgres:\/\/([^:@]+):(.+)@[^@]+$/.exec(file['x-switchboard-env'].DATABASE_URL ?? '');
  expect(m, 'DATABASE_URL').not.toBeNull();
  return { username: m![1]!, password: m![2]! };
}

describe('docker-compose.yml', () => {
  // Skipped only where neither `docker compose` nor `docker-compose` is installed (.ci/run installs one).
  it.skipIf(!cli)('is a valid compose file with Postgres, Temporal, its UI, the API and replicated workers', () => {
    const check = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], {
      encoding: 'utf8',
      env,
    });
    expect(check.status, check.stderr).toBe(0);
    const listed = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '--services'], {
      encoding: 'utf8',
      env,
    });
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(SERVICES);
    const full = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config'], {
      encoding: 'utf8',
      env,
    });
    expect(full.stdout).toMatch(/worker:[\s\S]*replicas: 2/);
    // Without a secret the file refuses to start, naming what to set.
    for (const name of ['SWITCHBOARD_MASTER_KEY', 'SWITCHBOARD_ADMIN_KEY', 'SWITCHBOARD_DB_PASSWORD']) {
      const missing = spawnSync(cli![0]!, [...cli!.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], {
        encoding: 'utf8',
        env: { ...env, [name]: '' },
      });
      expect(missing.status, name).not.toBe(0);
      expect(missing.stderr).toContain(name);
    }
  });

  // From the parsed YAML: holds whether or not a compose CLI is installed.
  it('ships no known secret: the admin key and every password must be supplied', () => {
    expect(Object.keys(services).sort()).toEqual(SERVICES);
    const appEnv = file['x-switchboard-env'];
    expect(appEnv.SWITCHBOARD_ADMIN_KEY).toMatch(/^\$\{SWITCHBOARD_ADMIN_KEY:\?[^}]*\}$/);
    expect(appEnv.SWITCHBOARD_MASTER_KEY).toMatch(/^\$\{SWITCHBOARD_MASTER_KEY:\?[^}]*\}$/);
    expect(dbUrl().password).toMatch(/^\$\{SWITCHBOARD_DB_PASSWORD:\?/);
    for (const [name, s] of Object.entries(services))
      for (const [k, v] of Object.entries(s.environment ?? {}))
        if (/PASSWORD|PWD|_KEY$/.test(k) && !/^(GHL|VAPI|RETELL|ANTHROPIC|SENDGRID)_/.test(k))
          expect(String(v), `${name}: ${k}`).toMatch(/^\$\{[A-Z_]+:\?[^}]*\}$/);
  });

  it('connects Switchboard and Temporal as roles that are not superusers', () => {
    const url = dbUrl();
    const superuser = String(services.postgres!.environment?.POSTGRES_USER ?? 'postgres');
    expect(url.username).not.toBe(superuser);
    expect(services.temporal!.environment?.POSTGRES_USER).not.toBe(superuser);
    // The roles come from the init script the Postgres image runs on a new volume.
    const mount = services.postgres!.volumes!.find((v) => v.includes('/docker-entrypoint-initdb.d/'));
    expect(mount).toBeDefined();
    const init = readFileSync(mount!.split(':')[0]!, 'utf8');
    for (const role of [url.username, String(services.temporal!.environment?.POSTGRES_USER)]) {
      const line = new RegExp(`create role ${role} login ([a-z ]*)password`).exec(init);
      expect(line, role).not.toBeNull();
      expect(line![1]!.split(' ')).toContain('nosuperuser');
    }
  });

  it('runs the maintained Temporal images, schema by admin-tools, and publishes no Temporal port', () => {
    const images = Object.values(services).map((s) => s.image ?? '');
    expect(images.filter((i) => i.includes('auto-setup'))).toEqual([]);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:\d/);
    const schema = services['temporal-schema']!;
    expect(schema.image).toMatch(/^temporalio\/admin-tools:\d/);
    expect(command(schema)).toMatch(/temporal-sql-tool --plugin postgres12 .*setup-schema/);
    expect(command(schema)).toMatch(/update-schema -d \/etc\/temporal\/schema\/postgresql\/v12\//);
    expect(services.temporal!.depends_on?.['temporal-schema']).toEqual({
      condition: 'service_completed_successfully',
    });
    expect(services.temporal!.environment?.DB).toBe('postgres12');
    // Whoever reaches 7233 can act as any tenant: never published; the UI on loopback only.
    expect(services.temporal!.ports).toBeUndefined();
    for (const [name, s] of Object.entries(services))
      for (const p of s.ports ?? []) {
        const spec = typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`;
        expect(spec, name).not.toMatch(/7233/);
      }
    expect(services['temporal-ui']!.ports).toEqual(['127.0.0.1:8080:8080']);
  });
});

describe('Dockerfile', () => {
  const lines = readFileSync('Dockerfile', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = lines.reduce<string[][]>(
    (acc, l) => (l.startsWith('FROM ') ? [...acc, [l]] : (acc.at(-1)!.push(l), acc)),
    [],
  );

  it('builds the console in a stage with dev dependencies and serves it from the production image', () => {
    expect(stages).toHaveLength(2);
    const [build, image] = stages as [string[], string[]];
    // The build stage: every dependency (Vite is a dev one), the console's sources, the strict build.
    expect(build[0]).toMatch(/^FROM node:20\S* AS console$/);
    expect(build).toContain('RUN npm ci --no-audit --no-fund');
    expect(build).toContain('COPY console ./console');
    expect(build.at(-1)).toBe('RUN npm run build:console');
    // `build:console` is the forced, strict build (fails the image on a broken console).
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['build:console']).toBe('node scripts/buildConsole.mjs --force --strict');
    // The image: production dependencies only, then the built console over the checkout (after COPY . .).
    expect(image).toContain('RUN npm ci --omit=dev --no-audit --no-fund');
    const copyAll = image.indexOf('COPY . .');
    const copyDist = image.indexOf('COPY --from=console /app/console/dist ./console/dist');
    expect(copyAll).toBeGreaterThan(0);
    expect(copyDist).toBeGreaterThan(copyAll);
    // A local console/dist never reaches the build context (the image has the one it built).
    expect(readFileSync('.dockerignore', 'utf8').split('\n')).toContain('console/dist');
  });
});
