/**
 * A bounded-concurrency gate: `run(fn)` starts `fn` when fewer than `limit` are running.
 * Abort-aware: a queued task whose signal fires is rejected without starting.
 */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>, signal?: AbortSignal) => Promise<T> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${limit}`);
  let active = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    active--;
    const start = queue.shift();
    if (start) start();
  };
  return <T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        if (signal?.aborted) {
          active++;
          next();
          reject(signal.reason);
          return;
        }
        active++;
        fn().then(
          (v) => {
            next();
            resolve(v);
          },
          (e: unknown) => {
            next();
            reject(e);
          },
        );
      };
      if (active < limit) start();
      else queue.push(start);
    });
}
