import type { Logger } from '../lib/logger.js';

/**
 * One Ctrl-C reaches us twice: the terminal signals the whole foreground group and `npm start`
 * forwards its own copy. Signals this close together are one request to stop.
 */
const SAME_CTRL_C_MS = 1000;

/**
 * SIGINT/SIGTERM run `stop` once and exit 0; a second signal while stopping (a second Ctrl-C, not
 * the echo of the first) exits at once (1). Errors at start print one readable message instead of a
 * stack trace.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  let stoppingSince: number | undefined;
  const onSignal = (signal: NodeJS.Signals | 'parent-exited') => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < SAME_CTRL_C_MS) return;
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stoppingSince = Date.now();
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
  // `npm start` killed with SIGKILL cannot forward anything: we notice we were orphaned (our parent
  // pid changes) and stop as for SIGTERM, so the embedded servers stop too. A process started by
  // init or a supervisor directly (parent pid 1) has nothing to watch.
  const parent = process.ppid;
  if (parent > 1) {
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      log.warn({ parent }, 'the parent process exited');
      onSignal('parent-exited');
    }, PARENT_CHECK_MS);
    watch.unref();
  }
}

/** How often we look whether the process that started us (npm, a shell) is still there. */
const PARENT_CHECK_MS = 500;

export function exitOnStartupError(err: unknown): never {
  process.stderr.write(`\nSwitchboard could not start:\n${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
