/**
 * A strict in-memory {@link NodeSysctls}: the files hold what a host's do, and the fake refuses what the
 * kernel refuses, with the kernel's errno: a file it does not model (ENOENT), every conntrack file while
 * nf_conntrack is not loaded (ENOENT), writes without privilege (EACCES), `nf_conntrack_max` outside the
 * initial network namespace (EACCES: the file is 0444 there), `hashsize` outside it (EOPNOTSUPP) or on a
 * read-only /sys (EROFS), a value out of the file's range (EINVAL), and lowering `oom_score_adj` without
 * CAP_SYS_RESOURCE (EACCES).
 *
 * @module
 */
import { KernelError } from '../exec.ts';
import {
  CONNTRACK_HASHSIZE,
  CONNTRACK_MAX,
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  NODE_TUNING_FILES,
  type NodeSysctls,
  type NodeTuningFile,
  OOM_SCORE_ADJ,
} from '../node_sysctls.ts';

/** The host the fake plays. */
export interface FakeNodeSysctlsOptions {
  /** Values that differ from a fresh host's (kernel defaults). */
  readonly values?: Partial<Record<NodeTuningFile, number>> | undefined;
  /** The node's CPUs (default 4). */
  readonly cpus?: number | undefined;
  /** False: kproxy runs in a network namespace of its own (default true: the host's). */
  readonly initialNamespace?: boolean | undefined;
  /** True: /sys is mounted read-only (a container runtime's doing). */
  readonly readOnlySys?: boolean | undefined;
  /** False: the nf_conntrack module is not loaded, so none of its files exist. */
  readonly conntrackLoaded?: boolean | undefined;
  /** False: not root (no CAP_NET_ADMIN / CAP_SYS_RESOURCE). */
  readonly privileged?: boolean | undefined;
}

/** A fresh host: the kernel's defaults (nf_conntrack_max and hashsize as on a small machine). */
const KERNEL_DEFAULTS: Record<NodeTuningFile, number> = {
  [CONNTRACK_MAX]: 65536,
  [CONNTRACK_HASHSIZE]: 16384,
  [CONNTRACK_TCP_TIMEOUT_ESTABLISHED]: 432000,
  [CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT]: 60,
  [CONNTRACK_TCP_BE_LIBERAL]: 0,
  [CONNTRACK_UDP_TIMEOUT]: 30,
  [CONNTRACK_UDP_TIMEOUT_STREAM]: 120,
  [OOM_SCORE_ADJ]: 0,
};

/** The range the kernel accepts per file (sysctl min/max handlers, the OOM score's bounds). */
const RANGES: Partial<Record<NodeTuningFile, readonly [number, number]>> = {
  [CONNTRACK_MAX]: [0, 2 ** 31 - 1],
  [CONNTRACK_HASHSIZE]: [1, 2 ** 31 - 1],
  [CONNTRACK_TCP_BE_LIBERAL]: [0, 1],
  [OOM_SCORE_ADJ]: [-1000, 1000],
};

const ERRNO_MESSAGES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  EINVAL: 'invalid argument',
  EOPNOTSUPP: 'operation not supported',
};

/** The fake seam; {@link writes} records every accepted write, in order. */
export class FakeNodeSysctls implements NodeSysctls {
  /** What the files hold now. */
  readonly values: Map<NodeTuningFile, number>;
  /** Every accepted write, as `FILE=VALUE`, in order. */
  readonly writes: string[] = [];
  /** Every refused write, as `FILE=VALUE: ERRNO`, in order. */
  readonly refused: string[] = [];
  readonly #options: FakeNodeSysctlsOptions;

  constructor(options: FakeNodeSysctlsOptions = {}) {
    this.#options = options;
    this.values = new Map(
      NODE_TUNING_FILES.map((file) => [file, options.values?.[file] ?? KERNEL_DEFAULTS[file]]),
    );
  }

  async read(file: NodeTuningFile): Promise<number> {
    const missing = this.#missing(file);
    if (missing !== undefined) throw failure(`read ${file}`, missing);
    return this.values.get(file)!;
  }

  async write(file: NodeTuningFile, value: number): Promise<void> {
    if (!Number.isSafeInteger(value)) throw new TypeError(`Not an integer for ${file}: ${value}`);
    const errno = this.#missing(file) ?? this.#refusal(file, value);
    if (errno !== undefined) {
      this.refused.push(`${file}=${value}: ${errno}`);
      throw failure(`write ${file} ${value}`, errno);
    }
    this.values.set(file, value);
    this.writes.push(`${file}=${value}`);
  }

  cpuCount(): number {
    return this.#options.cpus ?? 4;
  }

  #missing(file: NodeTuningFile): string | undefined {
    if (!(NODE_TUNING_FILES as readonly string[]).includes(file)) return 'ENOENT';
    if (file !== OOM_SCORE_ADJ && this.#options.conntrackLoaded === false) return 'ENOENT';
    return undefined;
  }

  #refusal(file: NodeTuningFile, value: number): string | undefined {
    const privileged = this.#options.privileged ?? true;
    const initial = this.#options.initialNamespace ?? true;
    if (file === OOM_SCORE_ADJ) {
      // Anyone may raise their own score; lowering it takes CAP_SYS_RESOURCE.
      if (!privileged && value < this.values.get(file)!) return 'EACCES';
    } else if (file === CONNTRACK_HASHSIZE) {
      if (this.#options.readOnlySys === true) return 'EROFS';
      if (!privileged) return 'EACCES';
      if (!initial) return 'EOPNOTSUPP';
    } else {
      if (!privileged) return 'EACCES';
      if (file === CONNTRACK_MAX && !initial) return 'EACCES';
    }
    const range = RANGES[file];
    if (range !== undefined && (value < range[0] || value > range[1])) return 'EINVAL';
    return undefined;
  }
}

/** What the real seam throws for an errno. */
function failure(operation: string, errno: string): KernelError {
  const cause = Object.assign(new Error(`${errno}: ${ERRNO_MESSAGES[errno] ?? errno}`), { code: errno });
  return new KernelError(operation, -1, cause.message, { cause });
}
