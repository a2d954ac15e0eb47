import type { Logger } from '../lib/logger.js';

/**
 * SIGINT/SIGTERM run `stop` once and exit 0; a second signal while stopping exits at once (1).
 * Errors at start print one readable message instead of a stack trace.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: API stops accepting, worker drains, embedded servers stop');
    stop().then(
      () => {
        log.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function exitOnStartupError(err: unknown): never {
  process.stderr.write(`\nSwitchboard could not start:\n${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
