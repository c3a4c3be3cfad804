// A background round run every pollMs on one instance until stopped: reminders, storage
// deletions. A failed round is logged and tried again at the next tick; stop waits for the
// round in progress.
import type { Logger } from 'pino';

export interface Poller {
  /** Runs a round soon instead of at the next tick (work was just queued). */
  wake(): void;
  stop(): Promise<void>;
}

export function startPoller(
  round: () => Promise<number>,
  { pollMs, logger, what }: { pollMs: number; logger: Logger; what: string },
): Poller {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const run = () => {
    timer = undefined;
    running = round()
      .then((done) => {
        if (done) logger.debug({ done }, `${what}: round done`);
      })
      .catch((err: unknown) => logger.warn({ err }, `${what} failed; retrying`))
      .finally(() => {
        running = undefined;
        schedule(again ? 0 : pollMs);
        again = false;
      });
  };
  const schedule = (delayMs: number) => {
    if (stopped || timer || running) return;
    timer = setTimeout(run, delayMs);
    timer.unref();
  };
  schedule(pollMs);
  return {
    wake() {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      clearTimeout(timer);
      timer = undefined;
      schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
