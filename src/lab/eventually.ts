/**
 * Waiting in integration tests: polls a check until it yields a value or a deadline passes. Bounded in
 * time by construction, so a broken feature fails the test instead of hanging it.
 *
 * @module
 */

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined.
 *
 * @param what what is awaited, for the error message
 * @param check returns the awaited value, or undefined (or throws) while not there yet
 * @param options the deadline (default 15 s) and poll interval (default 100 ms)
 * @returns the first value `check` returned
 * @throws Error `Timed out waiting for WHAT: last error` after the deadline
 * @example const r = await eventually('a 200', async () => ((await get(url)).status === 200 ? true : undefined))
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}: ${String(last ?? 'no value')}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
