/**
 * The nftables seam: `nft -f -` (one script, one atomic transaction), `nft -c -f -` (the same, checked
 * by the kernel and never committed), `nft -j list ...` read back as typed values (nft_listing.ts),
 * `nft delete table`, and the host check of the nftables mode ({@link checkNftHost}).
 *
 * A refused transaction leaves the ruleset as it was; {@link NftTransactionError} then names the script
 * line nft complained about (nft reports `/dev/stdin:LINE:COL-COL: Error: REASON` and echoes the line).
 *
 * What the listings cost (measured with nft 1.0.6 on a table of 40 000 chains and rules and a map of
 * 10 000 elements): `list set|map` reads only that set (0.01 s for a small one, 0.2 s for 10 000
 * elements), `list chains` 0.3 s, but `list table` and even `list tables` fetch every rule (4-5 s). So
 * the cheap existence check of a canary is {@link Nft.listContainer} of a small set, not a table listing.
 *
 * @module
 */
import { release } from 'node:os';
import { KproxyError } from '../contracts/errors.ts';
import { type Exec, KernelError, mustExec } from './exec.ts';
import { compareVersions } from './iptables.ts';
import {
  countChainRules,
  type NftChainInfo,
  type NftFamily,
  type NftListedContainer,
  type NftTableName,
  type NftTableState,
  parseChainsListing,
  parseContainerListing,
  parseTableListing,
  parseTablesListing,
} from './nft_listing.ts';

/** Options of one transaction. */
export interface NftRunOptions {
  /** Aborts (kills) nft; the kernel then commits nothing. */
  readonly signal?: AbortSignal | undefined;
}

/** The nftables seam. */
export interface Nft {
  /**
   * Runs a script as one transaction (`nft -f -`): all of it is committed, or nothing.
   *
   * @throws {NftTransactionError} when nft refuses it (the ruleset is then unchanged)
   */
  apply(script: string, options?: NftRunOptions): Promise<void>;
  /**
   * Checks a script as {@link Nft.apply} would run it, committing nothing (`nft -c -f -`).
   *
   * @throws {NftTransactionError} when nft refuses it
   */
  check(script: string, options?: NftRunOptions): Promise<void>;
  /** A table with its chains, rule counts, sets and maps; undefined when it does not exist. Slow at scale. */
  listTable(family: NftFamily, name: string): Promise<NftTableState | undefined>;
  /** The chains of one table, without rules (none when the table does not exist). */
  listChains(family: NftFamily, table: string): Promise<NftChainInfo[]>;
  /**
   * One set or map with its elements; undefined when it (or its table) does not exist. Costs what the
   * set holds, so that a small set serves as the canary of a table deleted or flushed behind our back.
   */
  listContainer(
    family: NftFamily,
    table: string,
    kind: 'set' | 'map',
    name: string,
  ): Promise<NftListedContainer | undefined>;
  /**
   * How many rules one chain holds (`nft -j list chain`); undefined when the chain or its table does not
   * exist. Costs what the chain holds: used on the few fixed chains to notice a flush behind our back.
   */
  chainRuleCount(family: NftFamily, table: string, chain: string): Promise<number | undefined>;
  /** Every table of every family (kproxy's and other programs'). Slow at scale: nft reads every rule. */
  listTables(): Promise<NftTableName[]>;
  /** Deletes a table with everything in it; false when there is no such table. */
  deleteTable(family: NftFamily, name: string): Promise<boolean>;
  /** `X.Y.Z` of nft (`nft --version`). */
  version(): Promise<string>;
}

/** One error nft reported about a script: where, and why. */
export interface NftScriptProblem {
  /** The script line (1-based); 0 when nft named none. */
  readonly line: number;
  /** nft's reason, e.g. `Could not process rule: No such file or directory`. */
  readonly reason: string;
}

/** How much of a refused script line the message quotes. */
const QUOTED_LINE_CHARS = 300;

/**
 * nft refused a transaction (or a check): nothing of it was committed. The message names the first line
 * nft complained about, its reason and the line itself; `problems` lists every error nft reported;
 * `cause` is the {@link KernelError} of the command (command, exit code, stderr).
 */
export class NftTransactionError extends KproxyError {
  override readonly name = 'NftTransactionError';
  override readonly code = 'KPROXY_NFT_REFUSED';
  /** The first line nft complained about (1-based), 0 when it named none. */
  readonly line: number;
  /** That line of the script, undefined when nft named none. */
  readonly lineText: string | undefined;
  /** nft's reason for the first error. */
  readonly reason: string;

  /**
   * @param command the command line, e.g. `nft -f -`
   * @param exitCode nft's exit code
   * @param stderr everything nft wrote to stderr
   * @param problems the errors read from stderr ({@link parseNftErrors}), first one first
   * @param script the script nft was given
   * @param options `cause`: the {@link KernelError} of the command
   */
  constructor(
    readonly command: string,
    readonly exitCode: number,
    readonly stderr: string,
    readonly problems: readonly NftScriptProblem[],
    script: string,
    options?: ErrorOptions,
  ) {
    const first = problems[0];
    const line = first?.line ?? 0;
    const text = line > 0 ? script.split('\n')[line - 1] : undefined;
    const reason = first?.reason ?? (stderr.split('\n').find((l) => l.trim() !== '') ?? '').trim();
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    const quoted =
      text === undefined
        ? ''
        : `: ${text.trim().length > QUOTED_LINE_CHARS ? `${text.trim().slice(0, QUOTED_LINE_CHARS)}...` : text.trim()}`;
    const where = line > 0 ? ` at line ${line}` : '';
    super(`Transaction refused${where} (${command}, exit ${exitCode}): ${reason}${more}${quoted}`, options);
    this.line = line;
    this.lineText = text;
    this.reason = reason;
  }
}

/** The host cannot run the nftables mode: nft is missing or too old, or the kernel lacks what it needs. */
export class NftUnavailableError extends KproxyError {
  override readonly name = 'NftUnavailableError';
  override readonly code = 'KPROXY_NFT_UNAVAILABLE';
}

/** `/dev/stdin:3:22-25: Error: No such file or directory` (also `-:3:...` and a file name). */
const LOCATED_ERROR = /^(?:[^:\s]+):(\d+):(\d+)(?:-(\d+))?: Error: (.*)$/;
/** `Error: Could not process rule: ...` without a place (a command line's own error). */
const BARE_ERROR = /^Error: (.*)$/;

/**
 * Reads the errors out of nft's stderr, in the order nft printed them.
 *
 * @param stderr nft's standard error
 * @returns one entry per `Error:` line (line 0 for one without a place)
 * @example parseNftErrors('/dev/stdin:2:7-11: Error: syntax error\n...') // [{ line: 2, reason: 'syntax error' }]
 */
export function parseNftErrors(stderr: string): NftScriptProblem[] {
  const problems: NftScriptProblem[] = [];
  for (const text of stderr.split('\n')) {
    const located = LOCATED_ERROR.exec(text);
    if (located !== null) {
      problems.push({ line: Number(located[1]), reason: located[4]!.trim() });
      continue;
    }
    const bare = BARE_ERROR.exec(text);
    if (bare !== null) problems.push({ line: 0, reason: bare[1]!.trim() });
  }
  return problems;
}

/** nft's way of saying that what a command names is not there. */
const NOT_THERE = /No such file or directory/;

/**
 * Creates the real seam.
 *
 * @param exec where nft runs (e.g. createExec({ netns }))
 * @returns the seam
 * @example await createNft(createExec({ netns: 'kpt-node-1' })).apply(renderNftablesPlan(plan))
 */
export function createNft(exec: Exec): Nft {
  const run = async (args: readonly string[], script: string, options: NftRunOptions = {}) => {
    const result = await exec('nft', args, { input: script, signal: options.signal });
    if (result.code === 0) return;
    const command = ['nft', ...args].join(' ');
    throw new NftTransactionError(
      command,
      result.code,
      result.stderr,
      parseNftErrors(result.stderr),
      script,
      {
        cause: new KernelError(command, result.code, result.stderr),
      },
    );
  };
  /** A listing, or undefined when what it names does not exist. */
  const list = async (args: readonly string[]): Promise<string | undefined> => {
    const result = await exec('nft', ['-j', 'list', ...args]);
    if (result.code === 0) return result.stdout;
    if (NOT_THERE.test(result.stderr)) return undefined;
    throw new KernelError(['nft', '-j', 'list', ...args].join(' '), result.code, result.stderr);
  };
  return {
    apply: (script, options) => run(['-f', '-'], script, options),
    check: (script, options) => run(['-c', '-f', '-'], script, options),
    async listTable(family, name) {
      const json = await list(['table', family, name]);
      return json === undefined ? undefined : parseTableListing(json, family, name);
    },
    async listChains(family, table) {
      const json = await list(['chains', family]);
      return json === undefined ? [] : parseChainsListing(json, family, table);
    },
    async listContainer(family, table, kind, name) {
      const json = await list([kind, family, table, name]);
      return json === undefined ? undefined : parseContainerListing(json, kind);
    },
    async chainRuleCount(family, table, chain) {
      const json = await list(['chain', family, table, chain]);
      return json === undefined ? undefined : countChainRules(json, family, table, chain);
    },
    async listTables() {
      return parseTablesListing((await list(['tables'])) ?? '{"nftables":[]}');
    },
    async deleteTable(family, name) {
      const args = ['delete', 'table', family, name];
      const result = await exec('nft', args);
      if (result.code === 0) return true;
      if (NOT_THERE.test(result.stderr)) return false;
      throw new KernelError(['nft', ...args].join(' '), result.code, result.stderr);
    },
    async version() {
      const { stdout } = await mustExec(exec, 'nft', ['--version']);
      const version = /\bv(\d+\.\d+\.\d+)\b/.exec(stdout)?.[1];
      if (version === undefined)
        throw new NftUnavailableError(`Cannot read the nft version: ${stdout.trim()}`);
      return version;
    },
  };
}

/** The oldest nft the mode runs with (as upstream: older ones parse the whole ruleset and crash on others' rules). */
export const MIN_NFT_VERSION = '1.0.1';
/** The oldest kernel the mode runs on (as upstream: the features of its script, object comments included). */
export const MIN_KERNEL_VERSION = '5.13';

/** Options of {@link checkNftHost}. */
export interface NftHostOptions {
  /** The family whose features are probed (`ip` unless told). */
  readonly family?: NftFamily | undefined;
  /** The kernel release, e.g. `6.1.0-18-amd64` (default: this host's, `os.release()`). */
  readonly kernelRelease?: string | undefined;
}

/** What {@link checkNftHost} found. */
export interface NftHost {
  /** nft's version, `X.Y.Z`. */
  readonly nft: string;
  /** The kernel release. */
  readonly kernel: string;
}

/**
 * A script with one of every kind of object and statement the nftables mode writes, for `nft -c`: the
 * kernel then says whether it has them all (never committed, so the table name is never seen).
 */
function probeScript(family: NftFamily): string {
  const t = `${family} kproxy-probe`;
  const [addr, type, ep] =
    family === 'ip' ? ['ip', 'ipv4_addr', '198.18.0.1:80'] : ['ip6', 'ipv6_addr', '[fd00::1]:80'];
  return [
    `add table ${t} { comment "kproxy feature probe" ; }`,
    `add set ${t} affinity { type ${type} ; flags dynamic,timeout ; timeout 10800s ; }`,
    `add map ${t} service-ips { type ${type} . inet_proto . inet_service : verdict ; comment "probe" ; }`,
    `add chain ${t} endpoint`,
    `add chain ${t} service { comment "probe" ; }`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add chain ${t} nat-postrouting { type nat hook postrouting priority 100 ; }`,
    `add chain ${t} filter-forward { type filter hook forward priority 0 ; }`,
    `add rule ${t} endpoint update @affinity { ${addr} saddr }`,
    `add rule ${t} endpoint mark set mark or 0x4000`,
    `add rule ${t} endpoint meta l4proto tcp dnat to ${ep}`,
    `add rule ${t} service ${addr} saddr @affinity goto endpoint`,
    `add rule ${t} service numgen random mod 1 vmap { 0 : goto endpoint }`,
    `add rule ${t} nat-prerouting fib daddr type local ${addr} daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${t} nat-postrouting mark and 0x4000 == 0 return`,
    `add rule ${t} nat-postrouting masquerade fully-random`,
    `add rule ${t} filter-forward ct state new ${addr} daddr @affinity reject comment "probe"`,
    `add element ${t} service-ips { ${family === 'ip' ? '198.18.0.2' : 'fd00::2'} . tcp . 80 comment "probe" : goto service }`,
    '',
  ].join('\n');
}

/**
 * Checks that this host can run the nftables mode, as upstream does before it starts: nft runs and is
 * 1.0.1 or later, the kernel is 5.13 or later, and the kernel accepts a script with every feature the
 * mode's scripts use (`nft -c`, committing nothing).
 *
 * @param exec where nft runs
 * @param options the family to probe, the kernel release (for tests)
 * @returns nft's version and the kernel release
 * @throws {NftUnavailableError} naming the one thing that is missing: nft, a newer nft, a newer kernel,
 *   or a kernel feature (`cause` keeps the failure)
 * @example await checkNftHost(createExec()) // { nft: '1.0.6', kernel: '6.1.0-18-amd64' }
 */
export async function checkNftHost(exec: Exec, options: NftHostOptions = {}): Promise<NftHost> {
  const nft = createNft(exec);
  let version: string;
  try {
    version = await nft.version();
  } catch (error) {
    if (error instanceof NftUnavailableError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new NftUnavailableError(
      `Cannot run nft (the nftables mode needs nft ${MIN_NFT_VERSION} or later, from the nftables package): ${detail}`,
      { cause: error },
    );
  }
  if (compareVersions(version, MIN_NFT_VERSION) < 0) {
    throw new NftUnavailableError(
      `The nftables mode needs nft ${MIN_NFT_VERSION} or later: this host has nft ${version}`,
    );
  }
  const kernel = options.kernelRelease ?? release();
  const kernelVersion = /^(\d+\.\d+)/.exec(kernel)?.[1];
  if (kernelVersion === undefined || compareVersions(kernelVersion, MIN_KERNEL_VERSION) < 0) {
    throw new NftUnavailableError(
      `The nftables mode needs Linux ${MIN_KERNEL_VERSION} or later: this host runs ${kernel}`,
    );
  }
  const family = options.family ?? 'ip';
  try {
    await nft.check(probeScript(family));
  } catch (error) {
    if (!(error instanceof NftTransactionError)) throw error;
    const what = family === 'ip' ? 'the mode needs' : 'the mode needs for IPv6 (an ip6 table)';
    throw new NftUnavailableError(
      `The kernel lacks an nftables feature ${what}: ${error.reason}${error.lineText === undefined ? '' : `: ${error.lineText}`}`,
      { cause: error },
    );
  }
  return { nft: version, kernel };
}
