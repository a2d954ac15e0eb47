/**
 * A closed-loop HTTP load generator in its own process, so the measured server does not share an
 * event loop with its clients. `runLoad()` spawns this file; run directly, it reads its job from
 * argv[2] (JSON) and prints the latencies (ms) as JSON.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LoadJob {
  urls: string[];
  headers: Record<string, string>;
  concurrency: number;
  requests: number;
}

export async function runLoad(job: LoadJob): Promise<{ latenciesMs: number[]; errors: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(out) as { latenciesMs: number[]; errors: number };
}

async function main(job: LoadJob): Promise<void> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < job.requests) {
      const url = job.urls[next++ % job.urls.length]!;
      const t = performance.now();
      try {
        const res = await fetch(url, { headers: job.headers });
        await res.arrayBuffer();
        if (!res.ok) errors++;
      } catch {
        errors++;
      }
      latenciesMs.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  process.stdout.write(JSON.stringify({ latenciesMs, errors }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(JSON.parse(process.argv[2]!) as LoadJob);
