/**
 * The iptables seam: iptables-restore / iptables-save / a chain check, for one backend (legacy or nft)
 * and one family (iptables, or ip6tables for IPv6), over the {@link Exec} seam. `auto` follows the host as upstream's iptables-wrapper does: the backend
 * whose tables hold kubelet's (or kproxy's) marker chains, else the one with more rules, else nft.
 *
 * Every call waits for the xtables lock (`-w`), and iptables-restore always runs with `--noflush`
 * unless told otherwise, so that chains kproxy does not own are never touched.
 *
 * @module
 */

import { KproxyError } from '../contracts/errors.ts';
import type { IptablesBackend } from '../contracts/proxy_mode.ts';
import type { IPFamily } from '../model/types.ts';
import { type Exec, KernelError, mustExec } from './exec.ts';
import type { IptablesTable } from './iptables_restore.ts';
import { RestoreError } from './iptables_state.ts';

/** A concrete backend. */
export type ResolvedIptablesBackend = 'legacy' | 'nft';

/** Options of {@link Iptables.restore}. */
export interface RestoreOptions {
  /** Keep chains the input does not mention (kproxy always wants this). */
  readonly noflush: boolean;
}

/** Options of {@link iptablesFor} and {@link createIptables}. */
export interface IptablesOptions {
  /** IPv4 (iptables, the default) or IPv6 (ip6tables). */
  readonly family?: IPFamily | undefined;
}

/** One rule of a chain, as `iptables -A CHAIN` takes it. */
export interface IptablesRuleSpec {
  readonly table: IptablesTable;
  readonly chain: string;
  /** The rule's matches and target, one element per argument (a comment with spaces is one element). */
  readonly args: readonly string[];
}

/** iptables for one backend and family. */
export interface Iptables {
  readonly backend: ResolvedIptablesBackend;
  /** Feeds restore input for one table to iptables-restore (atomic for that table). */
  restore(table: IptablesTable, input: string, options: RestoreOptions): Promise<void>;
  /** iptables-save of one table, or of every table that exists when `table` is undefined. */
  save(table: IptablesTable | undefined): Promise<string>;
  /** Whether a chain exists (a cheap check of the canary, for a small table such as mangle). */
  chainExists(table: IptablesTable, chain: string): Promise<boolean>;
  /**
   * The rules of a chain as `-S` prints them, without the `-A CHAIN ` prefix (`iptables -t T -S CHAIN`),
   * or only rule `ruleNumber` (1-based: `-S CHAIN N`, which prints one line whatever the chain holds);
   * undefined when the chain does not exist or has no such rule. For integrity checks between syncs.
   */
  listRules(table: IptablesTable, chain: string, ruleNumber?: number): Promise<string[] | undefined>;
  /** `X.Y.Z` of the iptables tools. */
  version(): Promise<string>;
  /**
   * Makes sure a rule is in its chain, as upstream's EnsureRule: `-C`, then `-I CHAIN 1` (`first`) or
   * `-A` (`last`) when it is missing. For the few fixed jumps a mode keeps outside its restore input.
   *
   * @returns true when the rule was there already
   */
  ensureRule(rule: IptablesRuleSpec, position: 'first' | 'last'): Promise<boolean>;
  /** Deletes one copy of a rule (`-D`); false when there is none (or no such chain or target). */
  deleteRule(rule: IptablesRuleSpec): Promise<boolean>;
  /** Flushes and deletes a chain (`-F`, `-X`); false when there is no such chain. */
  deleteChain(table: IptablesTable, chain: string): Promise<boolean>;
}

/** The host lacks what the iptables mode needs. */
export class IptablesHostError extends KproxyError {
  override readonly name = 'IptablesHostError';
  override readonly code = 'KPROXY_IPTABLES_UNAVAILABLE';
}

const WAIT_SECONDS = '5';

function tools(
  backend: ResolvedIptablesBackend,
  family: IPFamily,
): { restore: string; save: string; iptables: string } {
  const base = `${family === 'IPv6' ? 'ip6tables' : 'iptables'}-${backend}`;
  return { restore: `${base}-restore`, save: `${base}-save`, iptables: base };
}

/** Pulls "line N" out of iptables-restore's error and quotes that line of the input. */
function restoreFailure(error: KernelError, input: string): RestoreError {
  const m = /line (\d+) failed/.exec(error.stderr);
  const line = m ? Number(m[1]) : 0;
  const text = line > 0 ? input.split('\n')[line - 1] : undefined;
  const head = error.stderr.split('\n').filter(Boolean).slice(0, 3).join(' | ');
  return new RestoreError(line, text === undefined ? head : `${head}: ${text}`, { cause: error });
}

/** iptables' ways of saying that a rule or chain is not there (a jump's target chain missing included). */
const NOT_THERE =
  /does a matching rule exist|No chain\/target\/match by that name|Bad rule|does ?n[o']t exist|No such file or directory/i;

/** Runs a removal (`-D`, `-F`, `-X`): true when it removed something, false when nothing was there. */
async function remove(exec: Exec, command: string, args: readonly string[]): Promise<boolean> {
  const r = await exec(command, args);
  if (r.code === 0) return true;
  if (NOT_THERE.test(r.stderr)) return false;
  throw new KernelError([command, ...args].join(' '), r.code, r.stderr);
}

/**
 * Creates the real seam for a concrete backend.
 *
 * @param exec where commands run (e.g. createExec({ netns }))
 * @param backend legacy or nft
 * @param options the family (IPv4 unless told)
 * @returns the seam
 * @example const ipt = iptablesFor(createExec({ netns: 'kpt-node-1' }), 'legacy')
 */
export function iptablesFor(
  exec: Exec,
  backend: ResolvedIptablesBackend,
  options: IptablesOptions = {},
): Iptables {
  const t = tools(backend, options.family ?? 'IPv4');
  return {
    backend,
    async restore(_table, input, options) {
      const args = ['-w', WAIT_SECONDS, ...(options.noflush ? ['--noflush'] : [])];
      try {
        await mustExec(exec, t.restore, args, { input });
      } catch (e) {
        if (e instanceof KernelError && e.exitCode > 0) throw restoreFailure(e, input);
        throw e;
      }
    },
    async save(table) {
      return (await mustExec(exec, t.save, table === undefined ? [] : ['-t', table])).stdout;
    },
    async chainExists(table, chain) {
      const r = await exec(t.iptables, ['-w', WAIT_SECONDS, '-t', table, '-S', chain]);
      if (r.code === 0) return true;
      // iptables-nft 1.8.x says "incompatible" for a chain (or table) that does not exist.
      if (r.code === 1 && /No chain|does not exist|incompatible/i.test(r.stderr)) return false;
      throw new KernelError(`${t.iptables} -t ${table} -S ${chain}`, r.code, r.stderr);
    },
    async listRules(table, chain, ruleNumber) {
      const args = [
        '-w',
        WAIT_SECONDS,
        '-t',
        table,
        '-S',
        chain,
        ...(ruleNumber === undefined ? [] : [String(ruleNumber)]),
      ];
      const r = await exec(t.iptables, args);
      if (r.code === 1 && /No chain|does not exist|incompatible|Index of|too big|Bad rule/i.test(r.stderr))
        return undefined;
      if (r.code !== 0) throw new KernelError(`${t.iptables} ${args.join(' ')}`, r.code, r.stderr);
      const prefix = `-A ${chain} `;
      const rules = r.stdout
        .split('\n')
        .filter((line) => line.startsWith(prefix))
        .map((line) => line.slice(prefix.length));
      // `-S CHAIN N` past the last rule prints nothing and exits 0.
      return ruleNumber !== undefined && rules.length === 0 ? undefined : rules;
    },
    async version() {
      const { stdout: out } = await mustExec(exec, t.iptables, ['--version']);
      const m = /v(\d+\.\d+\.\d+)/.exec(out);
      if (!m) throw new IptablesHostError(`Cannot read the iptables version: ${out.trim()}`);
      return m[1]!;
    },
    async ensureRule(rule, position) {
      const table = ['-w', WAIT_SECONDS, '-t', rule.table];
      const check = await exec(t.iptables, [...table, '-C', rule.chain, ...rule.args]);
      if (check.code === 0) return true;
      const add = position === 'first' ? ['-I', rule.chain, '1'] : ['-A', rule.chain];
      await mustExec(exec, t.iptables, [...table, ...add, ...rule.args]);
      return false;
    },
    deleteRule(rule) {
      return remove(exec, t.iptables, ['-w', WAIT_SECONDS, '-t', rule.table, '-D', rule.chain, ...rule.args]);
    },
    async deleteChain(table, chain) {
      const at = ['-w', WAIT_SECONDS, '-t', table];
      if (!(await remove(exec, t.iptables, [...at, '-F', chain]))) return false;
      return remove(exec, t.iptables, [...at, '-X', chain]);
    },
  };
}

/**
 * Checks that the iptables tools of one backend and family run (`iptables --version`, then
 * `iptables-restore --version`), as the iptables mode does before it starts.
 *
 * @param exec where commands run
 * @param backend legacy or nft
 * @param options the family (IPv4 unless told)
 * @returns the version of the iptables tools, `X.Y.Z`
 * @throws {KernelError} when a tool does not run
 * @throws {IptablesHostError} when the version cannot be read
 * @example await probeIptablesTools(createExec({ netns: 'kpt-node-1' }), 'nft') // '1.8.9'
 */
export async function probeIptablesTools(
  exec: Exec,
  backend: ResolvedIptablesBackend,
  options: IptablesOptions = {},
): Promise<string> {
  const version = await iptablesFor(exec, backend, options).version();
  await mustExec(exec, tools(backend, options.family ?? 'IPv4').restore, ['--version']);
  return version;
}

const MARKER_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY|KUBE-PROXY-CANARY) /m;

async function tryRun(exec: Exec, command: string, args: readonly string[]): Promise<string | undefined> {
  try {
    const r = await exec(command, args);
    return r.code === 0 ? r.stdout : undefined;
  } catch {
    return undefined;
  }
}

function ruleLines(save: string | undefined): number {
  return save === undefined ? -1 : save.split('\n').filter((l) => l.startsWith('-')).length;
}

/**
 * Decides which backend the host uses, as upstream's iptables-wrapper does: kubelet's marker chains in
 * nft's mangle table, then in legacy's tables (read without `-t`, which would create the table), then
 * the backend with more rules; nft when nothing tells.
 *
 * @param exec where commands run
 * @returns legacy or nft
 * @example await detectIptablesBackend(createExec()) // 'nft' on a fresh host
 */
export async function detectIptablesBackend(exec: Exec): Promise<ResolvedIptablesBackend> {
  const nftMangle = await tryRun(exec, 'iptables-nft-save', ['-t', 'mangle']);
  if (nftMangle !== undefined && MARKER_CHAINS.test(nftMangle)) return 'nft';
  const legacy = await tryRun(exec, 'iptables-legacy-save', []);
  if (legacy !== undefined && MARKER_CHAINS.test(legacy)) return 'legacy';
  const nft = await tryRun(exec, 'iptables-nft-save', []);
  if (legacy === undefined && nft === undefined) {
    throw new IptablesHostError('Neither iptables-legacy-save nor iptables-nft-save runs on this host');
  }
  if (nft === undefined) return 'legacy';
  return ruleLines(legacy) > ruleLines(nft) ? 'legacy' : 'nft';
}

/**
 * Resolves `--iptables-backend`: `auto` is detected on the host ({@link detectIptablesBackend}), once
 * for both families (as upstream's iptables-wrapper decides for iptables and ip6tables together).
 *
 * @param exec where commands run
 * @param backend auto, legacy or nft
 * @returns legacy or nft
 * @example await resolveIptablesBackend(createExec(), 'auto') // 'nft' on a fresh host
 */
export async function resolveIptablesBackend(
  exec: Exec,
  backend: IptablesBackend,
): Promise<ResolvedIptablesBackend> {
  return backend === 'auto' ? await detectIptablesBackend(exec) : backend;
}

/**
 * Creates the seam for `--iptables-backend` (resolving `auto` on the host).
 *
 * @param exec where commands run
 * @param backend auto, legacy or nft
 * @param options the family (IPv4 unless told)
 * @returns the seam
 * @example const ipt = await createIptables(createExec({ netns }), 'auto')
 */
export async function createIptables(
  exec: Exec,
  backend: IptablesBackend,
  options: IptablesOptions = {},
): Promise<Iptables> {
  return iptablesFor(exec, await resolveIptablesBackend(exec, backend), options);
}

/**
 * Compares dotted versions.
 *
 * @param a e.g. `1.8.9`
 * @param b e.g. `1.6.2`
 * @returns negative, zero or positive like a comparator
 * @example compareVersions('1.8.9', '1.6.2') > 0 // true
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
