// A leader-only task run again and again (the orphan sweeper, output retention): one round at a
// time, the next one interval after the last ended (a slow round never overlaps itself), and a
// shutdown that stops scheduling and waits, bounded, for a round in flight.
import { settlesWithin } from './deadline.ts';
import type { Runnable } from './manager.ts';

export function periodicRunnable(name: string, intervalMs: number, round: () => Promise<void>): Runnable {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const loop = (): void => {
    if (stopped) return;
    running = round().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(loop, intervalMs).unref();
    });
  };
  return {
    name,
    start: loop,
    async shutdown(timeoutMs: number): Promise<boolean> {
      stopped = true;
      clearTimeout(timer);
      if (!running) return true;
      return settlesWithin(running, timeoutMs);
    },
  };
}
