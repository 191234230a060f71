/**
 * Last-resort teardown: whatever happens to the process (normal exit, uncaught error, SIGINT/SIGTERM),
 * the namespaces and processes of every live lab are removed, synchronously, before it goes.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';

/** Something that can tear itself down synchronously. */
export interface SyncDestroyable {
  destroySync(): void;
}

const live = new Set<SyncDestroyable>();
let installed = false;

function destroyAll(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch {
      /* keep going: the others must go too */
    }
  }
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', destroyAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Only take over a signal nobody else handles, and re-raise it so the process still dies of it.
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      destroyAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Registers a lab for teardown at process exit.
 *
 * @param lab the lab
 * @returns a function that unregisters it (after its own destroy)
 * @example const unregister = registerForExit(lab); ...; unregister();
 */
export function registerForExit(lab: SyncDestroyable): () => void {
  install();
  live.add(lab);
  return () => {
    live.delete(lab);
  };
}

/**
 * Kills every process in the namespaces, then deletes them, synchronously (for the exit handler).
 *
 * @param namespaces namespace names (all `kpt-`)
 * @example destroyNamespacesSync(['kpt-x-1-1-n'])
 */
export function destroyNamespacesSync(namespaces: readonly string[]): void {
  for (const ns of namespaces) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
