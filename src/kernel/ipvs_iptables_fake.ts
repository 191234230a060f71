/**
 * A strict in-memory iptables (nat and filter tables) answering `iptables-save` and
 * `iptables-restore --noflush` as the real tools do: a restore is all-or-nothing; a rule may only be
 * added to an existing chain, jump to a built-in target or an existing chain of its table, and name an
 * existing ipset; a chain may only be deleted when it is empty and nothing jumps to it.
 *
 * @module
 */
import type { ExecResult } from './exec.ts';
import type { FakeIpset } from './ipset_fake.ts';

type Tables = Map<string, Map<string, string[]>>;

class RestoreFailure extends Error {}

const BUILTIN: Record<string, readonly string[]> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};
const TARGETS = [
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'MASQUERADE',
  'MARK',
  'DNAT',
  'SNAT',
  'REDIRECT',
  'LOG',
];

function freshTables(): Tables {
  return new Map(
    Object.entries(BUILTIN).map(([t, chains]) => [t, new Map(chains.map((c) => [c, [] as string[]]))]),
  );
}

/** One family's fake iptables. */
export class FakeIptables {
  #tables: Tables = freshTables();

  constructor(private readonly ipset: FakeIpset) {}

  /** The rules of a chain (`-A CHAIN ...` lines), or undefined when it does not exist. */
  rules(table: string, chain: string): string[] | undefined {
    const rules = this.#tables.get(table)?.get(chain);
    return rules === undefined ? undefined : [...rules];
  }

  /** Chain names of a table, sorted. */
  chains(table: string): string[] {
    return [...(this.#tables.get(table)?.keys() ?? [])].sort();
  }

  /** True when a rule names the set. */
  referencesSet(name: string): boolean {
    for (const chains of this.#tables.values()) {
      for (const rules of chains.values())
        if (rules.some((r) => r.includes(`--match-set ${name} `))) return true;
    }
    return false;
  }

  /** Runs `iptables-save [-t TABLE]`. */
  save(args: readonly string[]): ExecResult {
    const only = args[0] === '-t' ? args[1] : undefined;
    const lines: string[] = [];
    for (const [table, chains] of this.#tables) {
      if (only !== undefined && table !== only) continue;
      lines.push(`*${table}`);
      for (const chain of chains.keys())
        lines.push(`:${chain} ${BUILTIN[table]?.includes(chain) ? 'ACCEPT' : '-'} [0:0]`);
      for (const rules of chains.values()) lines.push(...rules);
      lines.push('COMMIT');
    }
    return { code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' };
  }

  /** Runs `iptables-restore --noflush` with `input`. */
  restore(args: readonly string[], input: string): ExecResult {
    if (!args.includes('--noflush')) {
      return { code: 2, stdout: '', stderr: 'kproxy fake: only --noflush restores are modelled\n' };
    }
    const next: Tables = new Map(
      [...this.#tables].map(([t, chains]) => [t, new Map([...chains].map(([c, r]) => [c, [...r]]))]),
    );
    let table: Map<string, string[]> | undefined;
    let tableName = '';
    let n = 0;
    try {
      for (const raw of input.split('\n')) {
        n++;
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        if (line.startsWith('*')) {
          tableName = line.slice(1);
          table = next.get(tableName);
          if (table === undefined) throw new RestoreFailure(`Unknown table ${tableName}`);
          continue;
        }
        if (table === undefined) throw new RestoreFailure('Rule outside a table');
        if (line === 'COMMIT') {
          table = undefined;
          continue;
        }
        if (line.startsWith(':')) {
          const chain = line.slice(1).split(/\s+/)[0] ?? '';
          table.set(chain, []);
          continue;
        }
        this.#rule(tableName, table, line);
      }
      if (table !== undefined) throw new RestoreFailure('COMMIT expected at the end');
    } catch (error) {
      if (!(error instanceof RestoreFailure)) throw error;
      return { code: 2, stdout: '', stderr: `iptables-restore: line ${n} failed: ${error.message}\n` };
    }
    this.#tables = next;
    return { code: 0, stdout: '', stderr: '' };
  }

  #rule(tableName: string, table: Map<string, string[]>, line: string): void {
    const [op, chain, ...rest] = line.split(/\s+/);
    const rules = table.get(chain ?? '');
    if (op === '-X') {
      if (rules === undefined) throw new RestoreFailure(`No chain ${chain}`);
      if (rules.length > 0) throw new RestoreFailure(`Chain ${chain} is not empty`);
      for (const other of table.values()) {
        if (other.some((r) => r.endsWith(`-j ${chain}`) || r.includes(`-j ${chain} `))) {
          throw new RestoreFailure(`Chain ${chain} is still referenced`);
        }
      }
      table.delete(chain!);
      return;
    }
    if (rules === undefined) throw new RestoreFailure(`No chain/target/match by that name: ${chain}`);
    let spec = rest;
    let position = rules.length;
    if (op === '-I') {
      position = 0;
      if (/^\d+$/.test(spec[0] ?? '')) {
        position = Number(spec[0]) - 1;
        spec = spec.slice(1);
      }
    }
    const text = `-A ${chain} ${spec.join(' ')}`;
    if (op === '-D') {
      const at = rules.indexOf(text);
      if (at < 0) throw new RestoreFailure(`Bad rule (does a matching rule exist in that chain?): ${text}`);
      rules.splice(at, 1);
      return;
    }
    if (op !== '-A' && op !== '-I') throw new RestoreFailure(`kproxy fake: unsupported ${op}`);
    const target = spec[spec.indexOf('-j') + 1];
    if (!spec.includes('-j') || target === undefined) throw new RestoreFailure(`No target: ${text}`);
    if (!TARGETS.includes(target) && !table.has(target))
      throw new RestoreFailure(`Couldn't load target ${target}`);
    if (target === 'MASQUERADE' && tableName !== 'nat') throw new RestoreFailure('MASQUERADE only in nat');
    for (let i = 0; i < spec.length; i++) {
      if (spec[i] === '--match-set' && !this.ipset.has(spec[i + 1] ?? '')) {
        throw new RestoreFailure(`Set ${spec[i + 1]} doesn't exist`);
      }
    }
    rules.splice(position, 0, text);
  }
}
