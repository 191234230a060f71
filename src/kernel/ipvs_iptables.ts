/**
 * Applies the ipvs mode's small iptables ruleset: rewrites kproxy's chains of one family with
 * `iptables-restore --noflush` (declaring a chain empties it; other chains stay) and inserts the jumps
 * from the built-in chains that `iptables-save` does not show yet. Cleanup removes jumps and chains.
 *
 * Consolidation note: the iptables mode's wrapper (src/kernel/iptables*.ts) covers the same ground; this
 * file should move onto it once it is stable.
 *
 * @module
 */
import type { IPFamily } from '../model/types.ts';
import type { IptablesBackend } from '../modes/mode.ts';
import type { Exec } from './exec.ts';
import { mustExec } from './exec.ts';

/** A jump from a built-in chain into a kproxy chain. */
export interface IptablesJump {
  readonly table: 'nat' | 'filter';
  readonly from: string;
  readonly to: string;
  readonly comment: string;
}

/** kproxy's chains of one family, per table. */
export interface IptablesChains {
  readonly nat: readonly string[];
  readonly filter: readonly string[];
}

/** The applier. */
export interface IpvsIptables {
  /**
   * Restores `text` (kproxy's chains, declared and filled, for nat and filter) and inserts missing jumps.
   *
   * @returns bytes and lines sent
   */
  apply(
    family: IPFamily,
    text: string,
    jumps: readonly IptablesJump[],
  ): Promise<{ bytes: number; lines: number }>;
  /** Deletes the jumps and the chains that exist; a no-op when none does. */
  cleanup(family: IPFamily, chains: IptablesChains, jumps: readonly IptablesJump[]): Promise<void>;
}

/** The save/restore programs for a family and backend. */
export function iptablesTools(family: IPFamily, backend: IptablesBackend): { save: string; restore: string } {
  const base = family === 'IPv4' ? 'iptables' : 'ip6tables';
  const infix = backend === 'auto' ? '' : `-${backend}`;
  return { save: `${base}${infix}-save`, restore: `${base}${infix}-restore` };
}

/** `-A FROM -m comment --comment "C" -j TO`, as iptables-save prints a jump. */
export function jumpText(jump: IptablesJump): string {
  return `-A ${jump.from} -m comment --comment "${jump.comment}" -j ${jump.to}`;
}

/** Tables → chains and rule lines, from iptables-save output. */
export function parseIptablesSave(text: string): Map<string, { chains: Set<string>; rules: string[] }> {
  const tables = new Map<string, { chains: Set<string>; rules: string[] }>();
  let current: { chains: Set<string>; rules: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (line.startsWith(':') && current !== undefined) {
      current.chains.add(line.slice(1).split(/\s+/)[0] ?? '');
    } else if (line.startsWith('-A ') && current !== undefined) {
      current.rules.push(line);
    }
  }
  return tables;
}

/**
 * The real applier.
 *
 * @param exec where to run
 * @param backend `--iptables-backend`
 * @returns the applier
 * @example await createIpvsIptables(exec, 'auto').apply('IPv4', text, jumps)
 */
export function createIpvsIptables(exec: Exec, backend: IptablesBackend): IpvsIptables {
  const save = async (family: IPFamily) => {
    const { stdout } = await mustExec(exec, iptablesTools(family, backend).save, []);
    return parseIptablesSave(stdout);
  };
  return {
    async apply(family, text, jumps) {
      const current = await save(family);
      const missing = jumps.filter((j) => !(current.get(j.table)?.rules ?? []).includes(jumpText(j)));
      let input = text;
      for (const table of ['nat', 'filter'] as const) {
        const inserts = missing
          .filter((j) => j.table === table)
          .map((j) => `-I ${j.from} 1 -m comment --comment "${j.comment}" -j ${j.to}`);
        if (inserts.length === 0) continue;
        // Insert after the table's own rules, before its COMMIT: the target chains are declared by then.
        const marker = `*${table}\n`;
        const start = input.indexOf(marker);
        const commit = input.indexOf('COMMIT\n', start);
        if (start < 0 || commit < 0) throw new TypeError(`The restore text has no complete *${table} table`);
        input = `${input.slice(0, commit)}${inserts.join('\n')}\n${input.slice(commit)}`;
      }
      await mustExec(exec, iptablesTools(family, backend).restore, ['--noflush'], { input });
      return { bytes: Buffer.byteLength(input), lines: input.split('\n').length - 1 };
    },
    async cleanup(family, chains, jumps) {
      const current = await save(family);
      const sections: string[] = [];
      for (const table of ['nat', 'filter'] as const) {
        const have = current.get(table);
        if (have === undefined) continue;
        const present = chains[table].filter((c) => have.chains.has(c));
        const deletes = jumps
          .filter((j) => j.table === table && have.rules.includes(jumpText(j)))
          .map((j) => `-D ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`);
        if (present.length === 0 && deletes.length === 0) continue;
        sections.push(
          `*${table}`,
          ...present.map((c) => `:${c} - [0:0]`),
          ...deletes,
          ...present.map((c) => `-X ${c}`),
          'COMMIT',
        );
      }
      if (sections.length === 0) return;
      await mustExec(exec, iptablesTools(family, backend).restore, ['--noflush'], {
        input: `${sections.join('\n')}\n`,
      });
    },
  };
}
