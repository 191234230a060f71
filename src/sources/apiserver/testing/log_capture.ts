/**
 * A pino logger that keeps its records in memory, so that tests can assert on what was logged (for
 * example the retry delays of a backoff).
 *
 * @module
 */
import { type Logger, pino } from 'pino';

/** A logger and the records it wrote. */
export interface LogCapture {
  readonly logger: Logger;
  /** Every record so far, parsed. */
  readonly records: Record<string, unknown>[];
  /** The records whose `msg` is `message`. */
  withMessage(message: string): Record<string, unknown>[];
}

/**
 * Creates a logger at `debug` level that records into memory (synchronously).
 *
 * @returns the logger and its records
 * @example const log = captureLogs(); run(log.logger); log.withMessage('Watch failed')
 */
export function captureLogs(): LogCapture {
  const records: Record<string, unknown>[] = [];
  const destination = {
    write(line: string): void {
      records.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  return {
    logger: pino({ level: 'debug', base: null }, destination),
    records,
    withMessage: (message) => records.filter((r) => r.msg === message),
  };
}
