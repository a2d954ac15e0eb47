/**
 * What a benchmark started and has not stopped yet. bench/run.ts stops whatever is left when the
 * benchmark ends — finished, failed or interrupted — so no sandbox, Temporal or Postgres process
 * outlives it.
 */
const running = new Map<symbol, { name: string; stop: () => Promise<void> }>();

/** Registers `stop`; the returned function stops once (later calls wait for the same stop). */
export function stopOnExit(name: string, stop: () => Promise<void>): () => Promise<void> {
  const id = Symbol(name);
  let stopping: Promise<void> | undefined;
  const once = () => {
    running.delete(id);
    return (stopping ??= stop());
  };
  running.set(id, { name, stop: once });
  return once;
}

/** Stops everything still registered, newest first; a failing stop does not keep the others running. */
export async function stopAll(log: (line: string) => void = console.error): Promise<void> {
  for (const [, { name, stop }] of [...running].reverse()) {
    await stop().catch((err: unknown) => log(`could not stop ${name}: ${(err as Error).message}`));
  }
}
