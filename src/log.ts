/**
 * Logging: structured JSON lines by default (pino), a human-readable format with `--log-format text`.
 *
 * @module
 */
import { type Logger, pino } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly format: 'json' | 'text';
  readonly level: string;
  /** Where lines go; default stderr. */
  readonly destination?: NodeJS.WritableStream | undefined;
}

/**
 * Creates the daemon's logger.
 *
 * @param options format, level and destination
 * @returns a pino logger
 * @example const log = createLogger({ format: 'text', level: 'info' })
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  if (options.format === 'json') {
    return pino({ level: options.level, base: { component: 'kproxy' } }, destination);
  }
  const text = {
    write(line: string): void {
      destination.write(formatTextLine(line));
    },
  };
  return pino({ level: options.level, base: null }, text);
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Turns one pino JSON line into `HH:MM:SS.mmm LEVEL msg key=value ...`. */
export function formatTextLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, ...rest } = record;
  const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${when} ${LEVELS[Number(level)] ?? String(level)} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`;
}
