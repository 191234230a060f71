/**
 * A child process for the node-tuning kernel test: run inside a `kpt-` network namespace, it applies the
 * settings given as its one JSON argument through the real seam, then prints one JSON line with what the
 * per-namespace conntrack files and its own `oom_score_adj` read back. It refuses settings that would
 * touch a global value (nf_conntrack_max, hashsize): a test never writes those.
 *
 * @module
 */
import { pino } from 'pino';
import { isMainModule } from '../../lab/node_child.ts';
import {
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  createNodeSysctls,
  type NodeTuningFile,
  OOM_SCORE_ADJ,
} from '../node_sysctls.ts';
import { applyNodeTuning } from '../node_tuning.ts';
import { conntrackMax, type NodeTuningSettings } from '../node_tuning_plan.ts';

/** The files the child reads back: the per-namespace ones and its own OOM score. */
export const READ_BACK: readonly NodeTuningFile[] = [
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  OOM_SCORE_ADJ,
];

/** What the child prints. */
export interface NodeTuningChildResult {
  readonly written: readonly string[];
  readonly values: Readonly<Record<string, number>>;
}

async function main(json: string): Promise<void> {
  const settings = JSON.parse(json) as NodeTuningSettings;
  const sysctls = createNodeSysctls();
  if (conntrackMax(settings.conntrack, sysctls.cpuCount()) > 0) {
    throw new Error('Refusing settings that would write the global nf_conntrack_max or hashsize');
  }
  const logger = pino({ level: 'silent' });
  const { written } = await applyNodeTuning(sysctls, settings, { logger, strict: true });
  const values: Record<string, number> = {};
  for (const file of READ_BACK) values[file] = await sysctls.read(file);
  const result: NodeTuningChildResult = { written: written.map((w) => `${w.file}=${w.value}`), values };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainModule(import.meta.url)) {
  main(process.argv[2] ?? '{}').catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
