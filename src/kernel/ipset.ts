/**
 * The ipset seam: lists sets (`ipset list -o save`) and applies changes as one `ipset restore` script.
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';
import type { Exec } from './exec.ts';
import { mustExec } from './exec.ts';

/** The set types kproxy uses. */
export type IpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

/** An address family as ipset names it. */
export type IpsetFamily = 'inet' | 'inet6';

/** A set as it should exist. */
export interface IpsetSpec {
  readonly name: string;
  readonly type: IpsetType;
  /** Ignored for bitmap:port (which has no family). */
  readonly family: IpsetFamily;
  /** Entries in `ipset add` syntax, normalized as ipset prints them (e.g. `198.18.0.1,tcp:80`). */
  readonly entries: readonly string[];
}

/** A set as listed. */
export interface ListedIpset {
  readonly name: string;
  readonly type: string;
  readonly family: IpsetFamily | undefined;
  readonly entries: readonly string[];
}

/** A set's header as `ipset list -t` prints it. */
export interface IpsetHeader {
  readonly name: string;
  readonly type: string;
  /** `Number of entries` (the kernel's count: listing it does not read the entries). */
  readonly entries: number;
}

/** The ipset seam. */
export interface Ipset {
  /**
   * Every set with its entries (one `ipset list -o save`), or only the named ones that exist (`ipset list
   * -n`, then one listing per set: cheaper when the other sets hold many more entries).
   */
  list(names?: readonly string[]): Promise<ListedIpset[]>;
  /**
   * Every set's header without its entries (`ipset list -t`): names, types and entry counts, the same
   * few lines per set whatever the sets hold (for integrity checks between syncs).
   */
  listHeaders(): Promise<IpsetHeader[]>;
  /** Runs an `ipset restore` script (stops at the first failing line, as ipset does). */
  restore(script: string): Promise<void>;
  /** `X.Y` of the ipset tool (`ipset --version`): whether ipset runs here at all. */
  version(): Promise<string>;
}

/** A set exists with another type or family than kproxy needs. */
export class IpsetConflictError extends KproxyError {
  override readonly name = 'IpsetConflictError';
  override readonly code = 'KPROXY_IPSET_CONFLICT';
}

/**
 * The `create` line of a set.
 *
 * @param spec the set
 * @returns e.g. `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536`
 */
export function ipsetCreateLine(spec: Pick<IpsetSpec, 'name' | 'type' | 'family'>): string {
  return spec.type === 'bitmap:port'
    ? `create ${spec.name} bitmap:port range 0-65535`
    : `create ${spec.name} ${spec.type} family ${spec.family} hashsize 1024 maxelem 65536`;
}

/**
 * The full restore script for a set of specs (what `kproxy rules` prints): create, then add every entry.
 *
 * @param specs the sets
 * @returns the script
 */
export function renderIpsetRestore(specs: readonly IpsetSpec[]): string {
  const lines: string[] = [];
  for (const spec of specs) {
    lines.push(ipsetCreateLine(spec));
    for (const entry of spec.entries) lines.push(`add ${spec.name} ${entry}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * The restore script that turns the listed sets into the desired ones: creates missing sets, adds missing
 * entries, deletes extra entries. Sets kproxy does not name are left alone.
 *
 * @param desired the sets as they should be
 * @param listed the sets as they are
 * @returns the script lines (empty when nothing differs)
 * @throws {IpsetConflictError} when a set exists with another type or family
 */
export function ipsetSyncLines(desired: readonly IpsetSpec[], listed: readonly ListedIpset[]): string[] {
  const byName = new Map(listed.map((s) => [s.name, s]));
  const lines: string[] = [];
  for (const spec of desired) {
    const current = byName.get(spec.name);
    if (current === undefined) {
      lines.push(ipsetCreateLine(spec));
      for (const entry of spec.entries) lines.push(`add ${spec.name} ${entry}`);
      continue;
    }
    const familyDiffers = spec.type !== 'bitmap:port' && current.family !== spec.family;
    if (current.type !== spec.type || familyDiffers) {
      throw new IpsetConflictError(
        `Set exists with another type: ${spec.name} is ${current.type} ${current.family ?? ''}, kproxy needs ${spec.type} ${spec.family} (run kproxy cleanup)`,
      );
    }
    const have = new Set(current.entries);
    const want = new Set(spec.entries);
    for (const entry of current.entries) if (!want.has(entry)) lines.push(`del ${spec.name} ${entry}`);
    for (const entry of spec.entries) if (!have.has(entry)) lines.push(`add ${spec.name} ${entry}`);
  }
  return lines;
}

/**
 * Parses `ipset list -o save` output.
 *
 * @param text the listing
 * @returns the sets
 */
export function parseIpsetSave(text: string): ListedIpset[] {
  const sets: { name: string; type: string; family: IpsetFamily | undefined; entries: string[] }[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'create' && words[1] !== undefined && words[2] !== undefined) {
      const familyAt = words.indexOf('family');
      const family = familyAt > 0 ? (words[familyAt + 1] as IpsetFamily) : undefined;
      sets.push({ name: words[1], type: words[2], family, entries: [] });
    } else if (words[0] === 'add' && words[2] !== undefined) {
      const set = sets.find((s) => s.name === words[1]);
      set?.entries.push(words[2]);
    }
  }
  return sets;
}

/**
 * Parses `ipset list -t` output (`Name:`, `Type:`, ... `Number of entries:` per set); a set without an
 * entry count (an ipset older than 6.30) counts as 0 entries.
 *
 * @param text the listing
 * @returns the headers, in listing order
 * @example parseIpsetHeaders('Name: KUBE-CLUSTER-IP\nType: hash:ip,port\nNumber of entries: 2\n') // [{ name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', entries: 2 }]
 */
export function parseIpsetHeaders(text: string): IpsetHeader[] {
  const headers: { name: string; type: string; entries: number }[] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at < 0) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 2).trim();
    const current = headers.at(-1);
    if (key === 'Name') headers.push({ name: value, type: '', entries: 0 });
    else if (key === 'Type' && current !== undefined) current.type = value;
    else if (key === 'Number of entries' && current !== undefined) current.entries = Number(value);
  }
  return headers;
}

const PROTOCOL_NUMBERS: Readonly<Record<string, string>> = { tcp: '6', udp: '17', sctp: '132' };

/**
 * Writes the protocols of `add`/`del` entries as numbers (`198.18.0.1,tcp:80` → `198.18.0.1,6:80`), which
 * ipset stores alike. ipset resolves a protocol name with getprotobyname(3), which reads /etc/protocols
 * on every entry: in the test guest (root over 9p) that is ~0.7 ms an entry, 10x the cost of the entry
 * itself (measured: 5k hash:ip,port entries restore in 3.95 s by name, 0.36 s by number).
 *
 * @param script an `ipset restore` script
 * @returns the same script with numeric protocols
 * @example numericProtocols('add KUBE-CLUSTER-IP 198.18.0.1,tcp:80\n') // => 'add KUBE-CLUSTER-IP 198.18.0.1,6:80\n'
 */
export function numericProtocols(script: string): string {
  return script.replace(
    /^((?:add|del) \S+ [^,\s]+,)(tcp|udp|sctp):/gm,
    (_match, head: string, protocol: string) => `${head}${PROTOCOL_NUMBERS[protocol] ?? protocol}:`,
  );
}

/**
 * The real ipset seam.
 *
 * @param exec where to run
 * @returns the seam
 * @example const ipset = createIpset(createExec({ netns: 'kpt-node-1' }))
 */
export function createIpset(exec: Exec): Ipset {
  return {
    async list(names) {
      if (names === undefined) {
        const { stdout } = await mustExec(exec, 'ipset', ['list', '-o', 'save']);
        return parseIpsetSave(stdout);
      }
      const wanted = new Set(names);
      const { stdout } = await mustExec(exec, 'ipset', ['list', '-n']);
      const sets: ListedIpset[] = [];
      for (const name of stdout.split('\n').filter((n) => wanted.has(n))) {
        const listed = await mustExec(exec, 'ipset', ['list', '-o', 'save', name]);
        sets.push(...parseIpsetSave(listed.stdout));
      }
      return sets;
    },
    async listHeaders() {
      const { stdout } = await mustExec(exec, 'ipset', ['list', '-t']);
      return parseIpsetHeaders(stdout);
    },
    async restore(script) {
      if (script === '') return;
      await mustExec(exec, 'ipset', ['restore'], { input: numericProtocols(script) });
    },
    async version() {
      const { stdout } = await mustExec(exec, 'ipset', ['--version']);
      // `ipset v7.17, protocol version: 7`; an unexpected wording still proves that ipset runs.
      return /v(\d+(?:\.\d+)*)/.exec(stdout)?.[1] ?? stdout.trim();
    },
  };
}
