/**
 * Watches the `--config` file as kube-proxy does (cmd/kube-proxy: it exits when the file's content
 * changes, so that its DaemonSet restarts it with the new configuration; a ConfigMap edit reaches the
 * mounted file within a minute). kproxy goes one step further: a changed file that does not load (bad
 * YAML, an invalid field) is reported and ignored, so that a broken edit does not put every node into a
 * crash loop; only a change that loads stops the daemon.
 *
 * The file is read on a timer rather than through inotify: kubelet updates a ConfigMap volume by swapping
 * a symlink (`..data`), which a watch on the file itself misses, and a small file read every few seconds
 * costs nothing.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { resolveConfigurationText } from './load.ts';

/** What {@link watchConfigFile} reports. */
export type ConfigFileChange =
  | { readonly kind: 'changed' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'unreadable'; readonly reason: string };

/** Options of {@link watchConfigFile}. */
export interface WatchConfigOptions {
  /** How often the file is read (ms, default 2000). */
  readonly intervalMs?: number | undefined;
  /** Stops the watch. */
  readonly signal: AbortSignal;
  /** Reads the file (default node:fs; tests substitute). */
  readonly read?: ((file: string) => Promise<string>) | undefined;
}

/**
 * Calls `onChange` when the file's content differs from `initial`: `changed` when the new content loads
 * (the daemon should stop, as kube-proxy), `invalid` when it does not (the daemon keeps its configuration),
 * `unreadable` when the file cannot be read. Each distinct content is reported once; after `changed` the
 * watch ends.
 *
 * @param file the `--config` path
 * @param initial the content the daemon runs with
 * @param onChange what to do
 * @param options interval, abort signal, reader
 * @example watchConfigFile(path, text, (c) => c.kind === 'changed' && stop(), { signal })
 */
export function watchConfigFile(
  file: string,
  initial: string,
  onChange: (change: ConfigFileChange) => void,
  options: WatchConfigOptions,
): void {
  const read = options.read ?? ((f: string) => readFile(f, 'utf8'));
  let reported = initial;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void check().finally(() => {
      busy = false;
    });
  }, options.intervalMs ?? 2000);
  timer.unref();
  const stop = () => clearInterval(timer);
  options.signal.addEventListener('abort', stop, { once: true });

  async function check(): Promise<void> {
    let text: string;
    try {
      text = await read(file);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reported !== `\u0000unreadable\u0000${reason}`) {
        reported = `\u0000unreadable\u0000${reason}`;
        onChange({ kind: 'unreadable', reason });
      }
      return;
    }
    if (text === reported || options.signal.aborted) return;
    reported = text;
    if (text === initial) return;
    try {
      resolveConfigurationText(text, file);
    } catch (error) {
      onChange({ kind: 'invalid', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    stop();
    onChange({ kind: 'changed' });
  }
}
