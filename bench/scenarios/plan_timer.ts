/**
 * The control plane's pure half, timed: loads a manifest directory once, then plans and renders the mode's
 * rules (`renderRules`, exactly what `kproxy rules` prints and what the Proxier feeds the kernel tool)
 * `repeat` times. Run as its own process (`--expose-gc`) so that memory figures are its own. Prints one JSON
 * line ({@link PlanTimes}).
 *
 * @example node --expose-gc plan_timer.ts iptables /tmp/manifests --repeat 3
 * @module
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/cli/duration.ts';
import { planOptionsFromFlags } from '../../src/cli/flags.ts';
import { loadOnce } from '../../src/cli/load_state.ts';
import { isProxyMode } from '../../src/contracts/proxy_mode.ts';
import { isMainModule } from '../../src/lab/node_child.ts';
import { loadMode } from '../../src/modes/registry.ts';
import { createManifestSource } from '../../src/sources/manifest/index.ts';

/** What one plan-timing run measured. */
export interface PlanTimes {
  /** Milliseconds per plan+render, in order. */
  readonly planMs: readonly number[];
  /** Size of the rendered rules (the restore input for iptables). */
  readonly bytes: number;
  readonly lines: number;
  /** Loading the manifests into a ProxyState (source + tracker), ms. */
  readonly loadMs: number;
  /** Heap in use after loading (the state), and the growth while a rendered plan is held, MB. */
  readonly stateHeapMb: number;
  readonly planHeapMb: number;
  readonly servicePorts: number;
}

/**
 * Loads the manifests and times plan+render.
 *
 * @param modeName a proxy mode
 * @param dir the manifest directory
 * @param repeat how many timed plans (at least 1)
 * @returns the times and sizes
 */
export async function timePlans(modeName: string, dir: string, repeat: number): Promise<PlanTimes> {
  if (!isProxyMode(modeName)) throw new Error(`Unknown proxy mode: ${modeName}`);
  const mode = await loadMode(modeName);
  const options = planOptionsFromFlags(
    {
      hostnameOverride: 'bench-node',
      nodeIp: ['198.18.0.1'],
      iptablesMasqueradeBit: '14',
      ipvsScheduler: 'rr',
      iptablesBackend: 'auto',
    },
    parseDuration,
  );
  const t0 = performance.now();
  const { state } = await loadOnce(createManifestSource(dir), options.nodeName, 600_000);
  const loadMs = performance.now() - t0;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const stateHeap = process.memoryUsage().heapUsed;
  const planMs: number[] = [];
  let text = '';
  for (let i = 0; i < repeat; i++) {
    text = '';
    gc?.();
    const start = performance.now();
    text = mode.renderRules(state, options);
    planMs.push(Math.round((performance.now() - start) * 100) / 100);
  }
  gc?.();
  const planHeap = process.memoryUsage().heapUsed - stateHeap;
  return {
    planMs,
    bytes: Buffer.byteLength(text),
    lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0),
    loadMs: Math.round(loadMs),
    stateHeapMb: round1(stateHeap / 2 ** 20),
    planHeapMb: round1(planHeap / 2 ** 20),
    servicePorts: state.servicePorts.size,
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { repeat: { type: 'string', default: '3' } },
  });
  const [mode, dir] = positionals;
  const repeat = Number(values.repeat);
  if (mode === undefined || dir === undefined || !(repeat >= 1 && repeat <= 100)) {
    throw new Error('Usage: plan_timer MODE DIR [--repeat 1-100]');
  }
  process.stdout.write(`${JSON.stringify(await timePlans(mode, dir, repeat))}\n`);
  // The manifest source may hold timers; the measurement is done.
  process.exit(0);
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
