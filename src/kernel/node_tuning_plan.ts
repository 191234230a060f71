/**
 * What kube-proxy's node tuning writes, as a pure function of the configuration and the values the files
 * hold now (upstream: cmd/kube-proxy/app conntrack setup and `ApplyOOMScoreAdj`):
 *
 * - `nf_conntrack_max` = max(maxPerCore × CPUs, min), only when maxPerCore > 0 (0 leaves it as it is),
 *   and only raised, never lowered;
 * - `hashsize` = that max / 4 when it holds less (the table's buckets, four entries each);
 * - the TCP established and close-wait timeouts, the UDP and UDP-stream timeouts: set (in whole seconds)
 *   when given and > 0 and different from what the kernel holds; `tcp_be_liberal` set to 1 when asked
 *   (false leaves it alone);
 * - this process's `oom_score_adj`, when given.
 *
 * @module
 */
import {
  CONNTRACK_HASHSIZE,
  CONNTRACK_MAX,
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  type NodeTuningFile,
  OOM_SCORE_ADJ,
} from './node_sysctls.ts';

/** The `conntrack` section of `KubeProxyConfiguration` (durations in milliseconds, null when unset). */
export interface ConntrackSettings {
  readonly maxPerCore: number | null;
  readonly min: number | null;
  readonly tcpEstablishedTimeout: number | null;
  readonly tcpCloseWaitTimeout: number | null;
  readonly tcpBeLiberal: boolean;
  readonly udpTimeout: number;
  readonly udpStreamTimeout: number;
}

/** The settings node tuning reads (a `KubeProxyConfiguration` is one). */
export interface NodeTuningSettings {
  readonly conntrack: ConntrackSettings;
  readonly oomScoreAdj: number | null;
}

/** One file the plan depends on; a `required` one that cannot be read stops the conntrack setup. */
export interface NodeTuningRead {
  readonly file: NodeTuningFile;
  readonly required: boolean;
}

/** One write of the plan. */
export interface NodeTuningWrite {
  readonly file: NodeTuningFile;
  readonly value: number;
  /** What the file held (undefined: it could not be read). */
  readonly current: number | undefined;
  /**
   * What a failure means, as upstream: `conntrack` stops the conntrack setup (an error), `hashsize` is a
   * warning when /sys is read-only and an error otherwise, `oom` is only logged.
   */
  readonly kind: 'conntrack' | 'hashsize' | 'oom';
}

/**
 * The nf_conntrack_max kube-proxy asks for (upstream's getConntrackMax).
 *
 * @param conntrack the conntrack settings
 * @param cpus the node's CPU count
 * @returns max(maxPerCore × cpus, min), or 0 (leave it alone) when maxPerCore is unset or 0
 * @example conntrackMax({ ...settings, maxPerCore: 32768, min: 131072 }, 8) // 262144
 */
export function conntrackMax(conntrack: ConntrackSettings, cpus: number): number {
  const perCore = conntrack.maxPerCore ?? 0;
  if (perCore <= 0) return 0;
  return Math.max(perCore * cpus, conntrack.min ?? 0);
}

/** The timeouts and flags set "when different", with their value in the kernel's unit (seconds, 0/1). */
function sysctlTargets(c: ConntrackSettings): [NodeTuningFile, number][] {
  const seconds = (ms: number | null) => (ms !== null && ms > 0 ? Math.floor(ms / 1000) : 0);
  const out: [NodeTuningFile, number][] = [
    [CONNTRACK_TCP_TIMEOUT_ESTABLISHED, seconds(c.tcpEstablishedTimeout)],
    [CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT, seconds(c.tcpCloseWaitTimeout)],
    [CONNTRACK_TCP_BE_LIBERAL, c.tcpBeLiberal ? 1 : 0],
    [CONNTRACK_UDP_TIMEOUT, seconds(c.udpTimeout)],
    [CONNTRACK_UDP_TIMEOUT_STREAM, seconds(c.udpStreamTimeout)],
  ];
  // 0 means "leave as it is" (a sub-second duration too, as upstream's integer division).
  return out.filter(([, value]) => value > 0);
}

/**
 * The files {@link planNodeTuning} needs the values of, in the order to read them.
 *
 * @param settings the configuration
 * @param cpus the node's CPU count
 * @returns the reads; `hashsize` is required (upstream fails when it cannot tell the table's size)
 * @example nodeTuningReads(config, 4).map((r) => r.file)[0] // '/proc/sys/net/netfilter/nf_conntrack_max'
 */
export function nodeTuningReads(settings: NodeTuningSettings, cpus: number): NodeTuningRead[] {
  const out: NodeTuningRead[] = [];
  if (conntrackMax(settings.conntrack, cpus) > 0) {
    out.push({ file: CONNTRACK_MAX, required: false }, { file: CONNTRACK_HASHSIZE, required: true });
  }
  for (const [file] of sysctlTargets(settings.conntrack)) out.push({ file, required: false });
  if (settings.oomScoreAdj !== null) out.push({ file: OOM_SCORE_ADJ, required: false });
  return out;
}

/**
 * Plans the node tuning: what to write, in upstream's order (conntrack max, hashsize, the timeouts, then
 * the OOM score).
 *
 * @param settings the configuration
 * @param current what the files of {@link nodeTuningReads} hold (a file missing here could not be read)
 * @param cpus the node's CPU count
 * @returns the writes; empty when everything already is as asked
 * @example planNodeTuning(config, new Map([[CONNTRACK_MAX, 65536], [CONNTRACK_HASHSIZE, 16384]]), 4)
 * // [{ file: CONNTRACK_MAX, value: 131072, ... }, { file: CONNTRACK_HASHSIZE, value: 32768, ... }, ...]
 */
export function planNodeTuning(
  settings: NodeTuningSettings,
  current: ReadonlyMap<NodeTuningFile, number>,
  cpus: number,
): NodeTuningWrite[] {
  const out: NodeTuningWrite[] = [];
  const max = conntrackMax(settings.conntrack, cpus);
  if (max > 0) {
    const now = current.get(CONNTRACK_MAX);
    // Only raised: an operator (or another agent) who set more knows better.
    if (now === undefined || now < max)
      out.push({ file: CONNTRACK_MAX, value: max, current: now, kind: 'conntrack' });
    const buckets = Math.floor(max / 4);
    const hashsize = current.get(CONNTRACK_HASHSIZE);
    if (hashsize === undefined || hashsize < buckets) {
      out.push({ file: CONNTRACK_HASHSIZE, value: buckets, current: hashsize, kind: 'hashsize' });
    }
  }
  for (const [file, value] of sysctlTargets(settings.conntrack)) {
    const now = current.get(file);
    if (now !== value) out.push({ file, value, current: now, kind: 'conntrack' });
  }
  const oom = settings.oomScoreAdj;
  if (oom !== null && current.get(OOM_SCORE_ADJ) !== oom) {
    out.push({ file: OOM_SCORE_ADJ, value: oom, current: current.get(OOM_SCORE_ADJ), kind: 'oom' });
  }
  return out;
}
