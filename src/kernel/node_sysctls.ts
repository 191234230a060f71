/**
 * The node-tuning seam: the integer files kube-proxy tunes at start (`--conntrack-*`, `--oom-score-adj`),
 * read and written as upstream does, straight through /proc and /sys (no program runs). The conntrack
 * sysctls under /proc/sys/net/netfilter/ are per network namespace, except `nf_conntrack_max`, which is
 * global (read-only outside the initial namespace); the module's `hashsize` parameter is global too (the
 * kernel refuses it outside the initial namespace); `/proc/self/oom_score_adj` is this process's own.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { KernelError } from './exec.ts';

/** `net.netfilter.nf_conntrack_max` (global: one table size for every namespace). */
export const CONNTRACK_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
/** The conntrack hash table's bucket count (global), a module parameter. */
export const CONNTRACK_HASHSIZE = '/sys/module/nf_conntrack/parameters/hashsize';
/** `net.netfilter.nf_conntrack_tcp_timeout_established`, in seconds. */
export const CONNTRACK_TCP_TIMEOUT_ESTABLISHED =
  '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established';
/** `net.netfilter.nf_conntrack_tcp_timeout_close_wait`, in seconds. */
export const CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT = '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait';
/** `net.netfilter.nf_conntrack_tcp_be_liberal`: 1 accepts out-of-window TCP packets instead of marking them INVALID. */
export const CONNTRACK_TCP_BE_LIBERAL = '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal';
/** `net.netfilter.nf_conntrack_udp_timeout`, in seconds. */
export const CONNTRACK_UDP_TIMEOUT = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout';
/** `net.netfilter.nf_conntrack_udp_timeout_stream`, in seconds. */
export const CONNTRACK_UDP_TIMEOUT_STREAM = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream';
/** This process's OOM score adjustment, -1000 to 1000. */
export const OOM_SCORE_ADJ = '/proc/self/oom_score_adj';

/** Every file the seam knows, the only ones it reads or writes. */
export const NODE_TUNING_FILES = [
  CONNTRACK_MAX,
  CONNTRACK_HASHSIZE,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  OOM_SCORE_ADJ,
] as const;

/** One of {@link NODE_TUNING_FILES}. */
export type NodeTuningFile = (typeof NODE_TUNING_FILES)[number];

/** Reads and writes the node-tuning files. */
export interface NodeSysctls {
  /**
   * Reads a file's integer.
   *
   * @throws {KernelError} when it cannot be read (e.g. nf_conntrack is not loaded) or holds no integer
   */
  read(file: NodeTuningFile): Promise<number>;
  /**
   * Writes an integer to a file.
   *
   * @throws {KernelError} when the kernel refuses it; {@link isReadOnlyFileSystem} tells a read-only /sys
   */
  write(file: NodeTuningFile, value: number): Promise<void>;
  /** The node's online CPUs (not this process's CPU affinity: the conntrack table is the node's). */
  cpuCount(): number;
}

/** The errno-style code of a failure (`EROFS`, `EACCES`, ...), when it has one. */
function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether a failed write met a read-only file system: /sys mounted read-only by the container runtime,
 * which upstream reports and works around instead of failing (docker issue 24000).
 *
 * @param error what {@link NodeSysctls.write} threw
 * @returns true for EROFS
 * @example if (isReadOnlyFileSystem(error)) logger.warn('/sys is read-only')
 */
export function isReadOnlyFileSystem(error: unknown): boolean {
  return error instanceof KernelError && errnoCode(error.cause) === 'EROFS';
}

/** A file operation as a {@link KernelError} (no program ran: exit -1, the errno message as stderr). */
function fileError(operation: string, error: unknown): KernelError {
  const message = error instanceof Error ? error.message : String(error);
  return new KernelError(operation, -1, message, { cause: error });
}

/** Options of {@link createNodeSysctls}. */
export interface NodeSysctlsOptions {
  /** The CPU count (default: the node's online CPUs, as `os.cpus()` lists them). */
  readonly cpuCount?: (() => number) | undefined;
}

/**
 * The real seam, over the files themselves (what it reads and writes is the calling process's network
 * namespace for the per-namespace sysctls).
 *
 * @param options a CPU count for tests
 * @returns the seam
 * @example await createNodeSysctls().write(CONNTRACK_TCP_BE_LIBERAL, 1)
 */
export function createNodeSysctls(options: NodeSysctlsOptions = {}): NodeSysctls {
  return {
    async read(file) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw fileError(`read ${file}`, error);
      }
      const value = Number(text.trim());
      if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
        throw new KernelError(`read ${file}`, -1, `not an integer: ${JSON.stringify(text.trim())}`);
      }
      return value;
    },
    async write(file, value) {
      if (!Number.isSafeInteger(value)) throw new TypeError(`Not an integer for ${file}: ${value}`);
      try {
        await writeFile(file, String(value));
      } catch (error) {
        throw fileError(`write ${file} ${value}`, error);
      }
    },
    cpuCount: options.cpuCount ?? onlineCpus,
  };
}

/** The node's online CPUs (upstream reads the topology from /sys), at least 1. */
function onlineCpus(): number {
  const n = cpus().length;
  return n > 0 ? n : availableParallelism();
}
