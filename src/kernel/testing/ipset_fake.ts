/**
 * A strict in-memory ipset that answers `ipset list -o save` and `ipset restore` as the real tool does:
 * restore stops at the first bad line; an entry must fit its set's type and family; a set in use by a
 * (fake) iptables rule cannot be destroyed.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ExecResult } from '../exec.ts';
import { type IpsetFamily, type IpsetType, ipsetCreateLine } from '../ipset.ts';
import { runBatchLines } from './batch_input.ts';

interface FakeSet {
  type: IpsetType;
  family: IpsetFamily;
  entries: Set<string>;
}

class IpsetFailure extends Error {}

const types: readonly IpsetType[] = [
  'hash:ip',
  'hash:ip,port',
  'hash:ip,port,ip',
  'hash:ip,port,net',
  'bitmap:port',
];

/** The fake kernel sets; {@link FakeIpset.ipset} is its `ipset`. */
export class FakeIpset {
  readonly #sets = new Map<string, FakeSet>();
  /** Tells whether a set is referenced (by the fake iptables); such a set cannot be destroyed. */
  isReferenced: (name: string) => boolean = () => false;

  /** Set names, sorted. */
  names(): string[] {
    return [...this.#sets.keys()].sort();
  }

  /** A set's entries, sorted, or undefined when it does not exist. */
  entries(name: string): string[] | undefined {
    const set = this.#sets.get(name);
    return set === undefined ? undefined : [...set.entries].sort();
  }

  /** True when the set exists. */
  has(name: string): boolean {
    return this.#sets.has(name);
  }

  /**
   * Runs `ipset ARGS`.
   *
   * @param args the arguments
   * @param input standard input (for restore)
   * @returns what ipset would return
   */
  ipset(args: readonly string[], input = ''): ExecResult {
    try {
      if (args[0] === '--version' && args.length === 1) {
        return { code: 0, stdout: 'ipset v7.17, protocol version: 7\n', stderr: '' };
      }
      if (args[0] === 'list' && args[1] === '-o' && args[2] === 'save' && args.length <= 4) {
        const only = args[3];
        if (only !== undefined && !this.#sets.has(only))
          throw new IpsetFailure('The set with the given name does not exist');
        return { code: 0, stdout: this.#save(only), stderr: '' };
      }
      if (args[0] === 'list' && args[1] === '-t' && args.length === 2) {
        return { code: 0, stdout: this.#headers(), stderr: '' };
      }
      if (args[0] === 'list' && args[1] === '-n' && args.length === 2) {
        return {
          code: 0,
          stdout: this.names()
            .map((n) => `${n}\n`)
            .join(''),
          stderr: '',
        };
      }
      if (args[0] === 'restore' && args.length === 1) {
        runBatchLines(
          input,
          (words) => this.#run(words),
          (error, n) =>
            error instanceof IpsetFailure ? new IpsetFailure(`Error in line ${n}: ${error.message}`) : error,
        );
        return { code: 0, stdout: '', stderr: '' };
      }
      this.#run(args);
      return { code: 0, stdout: '', stderr: '' };
    } catch (error) {
      if (!(error instanceof IpsetFailure)) throw error;
      return { code: 1, stdout: '', stderr: `ipset v7.17: ${error.message}\n` };
    }
  }

  #save(only?: string): string {
    const lines: string[] = [];
    for (const name of only === undefined ? this.names() : [only]) {
      const set = this.#sets.get(name)!;
      lines.push(ipsetCreateLine({ name, type: set.type, family: set.family }));
      for (const entry of set.entries) lines.push(`add ${name} ${entry}`);
    }
    return lines.map((l) => `${l}\n`).join('');
  }

  /** `ipset list -t`: each set's header as ipset 7 prints it, a blank line between sets. */
  #headers(): string {
    return this.names()
      .map((name) => {
        const set = this.#sets.get(name)!;
        const header =
          set.type === 'bitmap:port' ? 'range 0-65535' : `family ${set.family} hashsize 1024 maxelem 65536`;
        return [
          `Name: ${name}`,
          `Type: ${set.type}`,
          'Revision: 1',
          `Header: ${header}`,
          'Size in memory: 200',
          `References: ${this.isReferenced(name) ? 1 : 0}`,
          `Number of entries: ${set.entries.size}`,
        ].join('\n');
      })
      .map((block) => `${block}\n`)
      .join('\n');
  }

  #run(words: readonly string[]): void {
    const [op, name] = words;
    if (name === undefined) throw new IpsetFailure(`Missing set name: ${words.join(' ')}`);
    const set = this.#sets.get(name);
    switch (op) {
      case 'create': {
        if (set !== undefined)
          throw new IpsetFailure('Set cannot be created: set with the same name already exists');
        // IPSET_MAXNAMELEN is 32 with the final NUL.
        if (name.length > 31)
          throw new IpsetFailure(`Syntax error: setname '${name}' is longer than 31 characters`);
        const type = words[2] as IpsetType;
        if (!types.includes(type))
          throw new IpsetFailure(`Syntax error: typename '${String(words[2])}' is unknown`);
        const familyAt = words.indexOf('family');
        const family = (familyAt > 0 ? words[familyAt + 1] : 'inet') as IpsetFamily;
        if (family !== 'inet' && family !== 'inet6') throw new IpsetFailure(`Unknown family ${family}`);
        if (type === 'bitmap:port' && !words.includes('range'))
          throw new IpsetFailure('Missing range option');
        this.#sets.set(name, { type, family, entries: new Set() });
        return;
      }
      case 'add':
      case 'del': {
        if (set === undefined) throw new IpsetFailure('The set with the given name does not exist');
        const entry = words[2];
        if (entry === undefined) throw new IpsetFailure('Missing entry');
        const normalized = normalizeEntry(set, entry);
        if (op === 'add') {
          if (set.entries.has(normalized))
            throw new IpsetFailure("Element cannot be added to the set: it's already added");
          set.entries.add(normalized);
        } else {
          if (!set.entries.has(normalized))
            throw new IpsetFailure("Element cannot be deleted from the set: it's not added");
          set.entries.delete(normalized);
        }
        return;
      }
      case 'flush':
        if (set === undefined) throw new IpsetFailure('The set with the given name does not exist');
        set.entries.clear();
        return;
      case 'destroy':
        if (set === undefined) throw new IpsetFailure('The set with the given name does not exist');
        if (this.isReferenced(name))
          throw new IpsetFailure('Set cannot be destroyed: it is in use by a kernel component');
        this.#sets.delete(name);
        return;
      default:
        throw new IpsetFailure(`kproxy fake: unsupported ipset command ${String(op)}`);
    }
  }
}

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '132': 'sctp' };

/** Checks an entry against its set and returns it as ipset would print it. */
function normalizeEntry(set: FakeSet, entry: string): string {
  const ipOk = set.family === 'inet' ? isIPv4 : isIPv6;
  const bad = () =>
    new IpsetFailure(`Syntax error: '${entry}' is not a valid ${set.type} ${set.family} entry`);
  const port = (text: string | undefined) => {
    // ipset takes the protocol by name or number and prints its name.
    const m = /^(tcp|udp|sctp|6|17|132):(\d+)$/.exec(text ?? '');
    if (m === null || Number(m[2]) > 65535) throw bad();
    const name = PROTOCOL_NAMES[m[1]!] ?? m[1]!;
    return `${name}:${m[2]}`;
  };
  const ip = (text: string | undefined) => {
    if (text === undefined || !ipOk(text)) throw bad();
    return text;
  };
  const parts = entry.split(',');
  switch (set.type) {
    case 'bitmap:port': {
      if (!/^\d+$/.test(entry) || Number(entry) > 65535) throw bad();
      return String(Number(entry));
    }
    case 'hash:ip':
      if (parts.length !== 1) throw bad();
      return ip(parts[0]);
    case 'hash:ip,port':
      if (parts.length !== 2) throw bad();
      return `${ip(parts[0])},${port(parts[1])}`;
    case 'hash:ip,port,ip':
      if (parts.length !== 3) throw bad();
      return `${ip(parts[0])},${port(parts[1])},${ip(parts[2])}`;
    case 'hash:ip,port,net': {
      if (parts.length !== 3) throw bad();
      const [net, prefix] = (parts[2] ?? '').split('/');
      const full = set.family === 'inet' ? 32 : 128;
      const bits = prefix === undefined ? full : Number(prefix);
      if (!Number.isInteger(bits) || bits < 1 || bits > full) throw bad();
      return `${ip(parts[0])},${port(parts[1])},${ip(net)}${bits === full ? '' : `/${bits}`}`;
    }
    default: {
      const never: never = set.type;
      throw bad() ?? never;
    }
  }
}
