/**
 * Applies kube-proxy's node tuning at start (before the first sync): reads what the plan depends on,
 * plans ({@link planNodeTuning}), writes, and handles failures as upstream does: a conntrack failure is
 * an error (kube-proxy exits), a read-only /sys that keeps `hashsize` as it is is a warning (upstream's
 * node event, "problems may arise later"), an OOM score that cannot be set is only logged.
 *
 * @module
 */
import type { Logger } from 'pino';
import { isReadOnlyFileSystem, type NodeSysctls, type NodeTuningFile } from './node_sysctls.ts';
import {
  type NodeTuningSettings,
  type NodeTuningWrite,
  nodeTuningReads,
  planNodeTuning,
} from './node_tuning_plan.ts';

/** Options of {@link applyNodeTuning}. */
export interface ApplyNodeTuningOptions {
  readonly logger: Logger;
  /**
   * True (kube-proxy's behaviour): the first conntrack failure is thrown. False: it is logged as a
   * warning and the other settings are still tried (kproxy's userspace mode, which runs without root).
   */
  readonly strict: boolean;
}

/** What {@link applyNodeTuning} did. */
export interface NodeTuningResult {
  /** The writes the kernel accepted, in order. */
  readonly written: readonly NodeTuningWrite[];
  /** The writes that failed without stopping the tuning (read-only /sys, the OOM score, not strict). */
  readonly failed: readonly NodeTuningWrite[];
}

/** The message upstream puts in its node event when /sys is read-only (docker issue 24000). */
export const READ_ONLY_SYS_MESSAGE =
  '/sys is read-only: cannot modify conntrack limits, problems may arise later ' +
  '(If running Docker, see docker issue #24000)';

/** What upstream says when the conntrack setup fails (it then exits). */
const CONNTRACK_FAILED = 'Could not set conntrack parameters from kube-proxy configuration';

/** `net/netfilter/nf_conntrack_max` for a /proc/sys file, as upstream logs sysctl entries. */
function entryName(file: NodeTuningFile): string {
  return file.startsWith('/proc/sys/') ? file.slice('/proc/sys/'.length) : file;
}

/**
 * Tunes the node: conntrack sysctls and hashsize, then this process's OOM score.
 *
 * @param sysctls the seam
 * @param settings the effective configuration (its `conntrack` and `oomScoreAdj`)
 * @param options logger, and whether a conntrack failure is fatal
 * @returns what was written and what failed without stopping
 * @throws {KernelError} when strict and a conntrack file cannot be read (hashsize) or written
 * @example await applyNodeTuning(createNodeSysctls(), config, { logger, strict: true })
 */
export async function applyNodeTuning(
  sysctls: NodeSysctls,
  settings: NodeTuningSettings,
  options: ApplyNodeTuningOptions,
): Promise<NodeTuningResult> {
  const { logger, strict } = options;
  const cpus = sysctls.cpuCount();
  const current = new Map<NodeTuningFile, number>();
  let hashsizeUnknown = false;
  for (const read of nodeTuningReads(settings, cpus)) {
    try {
      current.set(read.file, await sysctls.read(read.file));
    } catch (error) {
      if (!read.required) continue;
      if (strict) {
        logger.error({ err: error }, CONNTRACK_FAILED);
        throw error;
      }
      logger.warn({ err: error }, CONNTRACK_FAILED);
      hashsizeUnknown = true;
    }
  }
  const written: NodeTuningWrite[] = [];
  const failed: NodeTuningWrite[] = [];
  for (const write of planNodeTuning(settings, current, cpus)) {
    // Without knowing the table's size, a non-strict run leaves it alone rather than guess.
    if (write.kind === 'hashsize' && hashsizeUnknown) continue;
    try {
      await sysctls.write(write.file, write.value);
      written.push(write);
      if (write.kind === 'hashsize')
        logger.info({ conntrackHashsize: write.value }, 'Setting conntrack hashsize');
      else if (write.kind === 'conntrack')
        logger.info({ entry: entryName(write.file), value: write.value }, 'Set sysctl');
      else logger.debug({ oomScoreAdj: write.value }, 'Applied OOM score adjustment');
    } catch (error) {
      if (write.kind === 'oom') {
        // Upstream logs this at verbosity 2 only: a non-root or unprivileged kube-proxy is not broken.
        logger.debug({ err: error }, 'Failed to apply OOMScore');
      } else if (write.kind === 'hashsize' && isReadOnlyFileSystem(error)) {
        logger.warn({ err: error }, READ_ONLY_SYS_MESSAGE);
      } else if (strict) {
        logger.error({ err: error }, CONNTRACK_FAILED);
        throw error;
      } else {
        logger.warn({ err: error }, CONNTRACK_FAILED);
      }
      failed.push(write);
    }
  }
  return { written, failed };
}
