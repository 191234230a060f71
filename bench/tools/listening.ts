/**
 * Waits until TCP ports listen inside a lab namespace (polling `ss`), so that a load never starts before
 * its server.
 *
 * @module
 */
import type { Lab } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';

/**
 * The local ports in `ss -Hltn` output.
 *
 * @param text `ss -Hltn` output
 * @returns every listening port
 * @example listeningPorts('LISTEN 0 4096 0.0.0.0:8080 0.0.0.0:*\n') // Set { 8080 }
 */
export function listeningPorts(text: string): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const m = local === undefined ? null : /:(\d+)$/.exec(local);
    if (m !== null) ports.add(Number(m[1]));
  }
  return ports;
}

/**
 * Polls until every port listens in the namespace.
 *
 * @param lab the lab
 * @param ns one of its namespaces
 * @param ports TCP ports
 * @param options timeout, and the server's exit (stops waiting early)
 * @throws {BenchError} on timeout or when the server exits first
 */
export async function waitForListening(
  lab: Lab,
  ns: string,
  ports: readonly number[],
  options: { readonly timeoutMs: number; readonly exited?: Promise<number | string> | undefined },
): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  let exit: number | string | undefined;
  void options.exited?.then((code) => {
    exit = code;
  });
  for (;;) {
    const r = await lab.exec(ns, ['ss', '-Hltn']);
    const open = listeningPorts(r.stdout);
    if (ports.every((p) => open.has(p))) return;
    if (exit !== undefined)
      throw new BenchError(`The server exited (${exit}) before listening on ${ports.join(', ')}`);
    if (performance.now() > deadline) {
      throw new BenchError(
        `Nothing listens on ${ports.filter((p) => !open.has(p)).join(', ')} in ${ns} after ${options.timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
