/**
 * Removing a mode's iptables chains, as `kproxy cleanup` does for the iptables and the ipvs mode: every
 * chain the mode owns (the mode says which) and every rule that jumps to one of them, in nat, filter and
 * mangle; one restore per table that has something to remove, nothing at all when nothing is there. A
 * chain that a rule outside kproxy's chains still needs (another tool's rule jumping to KUBE-MARK-MASQ,
 * say) is left alone, so the restore cannot fail on it.
 *
 * @module
 */

import type { IptablesBackend } from '../../contracts/proxy_mode.ts';
import { KernelError } from '../../kernel/exec.ts';
import type { Iptables, ResolvedIptablesBackend } from '../../kernel/iptables.ts';
import type { IptablesTable } from '../../kernel/iptables_restore.ts';
import { parseRule } from '../../kernel/iptables_rule.ts';
import { parseIptablesSave } from '../../kernel/iptables_state.ts';

/** The chain a rule jumps (or goes) to, if any. */
function jumpTarget(rule: string): string | undefined {
  try {
    const t = parseRule(rule).target;
    return t?.kind === 'jump' ? t.chain : undefined;
  } catch {
    const m = /(?:^|\s)-[jg] (\S+)/.exec(rule);
    return m?.[1];
  }
}

/** What a cleanup removed. */
export interface CleanupReport {
  readonly chainsDeleted: number;
  readonly rulesDeleted: number;
  /** Chains kept because a rule outside kproxy's chains still jumps to them. */
  readonly chainsKept: readonly string[];
}

/** Options of {@link cleanupIptables}. */
export interface CleanupOptions {
  /** Which chains the mode creates. */
  readonly owns: (table: IptablesTable, chain: string) => boolean;
}

/**
 * Removes a mode's chains and the jumps to them through one backend.
 *
 * @param ipt the iptables seam
 * @param options which chains are the mode's
 * @returns what was removed
 * @example await cleanupIptables(iptablesFor(exec, 'legacy'), { owns: isIpvsModeChain })
 */
export async function cleanupIptables(ipt: Iptables, options: CleanupOptions): Promise<CleanupReport> {
  const { owns } = options;
  const state = parseIptablesSave(await ipt.save(undefined));
  let chainsDeleted = 0;
  let rulesDeleted = 0;
  const chainsKept: string[] = [];
  for (const table of ['nat', 'filter', 'mangle'] as IptablesTable[]) {
    const t = state.get(table);
    if (t === undefined) continue;
    const ours = [...t.keys()].filter((chain) => owns(table, chain));
    if (ours.length === 0) continue;
    const oursSet = new Set(ours);
    const deletes: string[] = [];
    const neededByOthers = new Set<string>();
    for (const [name, c] of t) {
      if (oursSet.has(name)) continue;
      for (const rule of c.rules) {
        const target = jumpTarget(rule);
        if (target === undefined || !oursSet.has(target)) continue;
        if (c.policy !== undefined) deletes.push(`-D ${name} ${rule}`);
        else neededByOthers.add(target);
      }
    }
    // A kept chain keeps the chains it jumps to as well.
    const pending = [...neededByOthers];
    while (pending.length > 0) {
      for (const rule of t.get(pending.pop()!)?.rules ?? []) {
        const target = jumpTarget(rule);
        if (target !== undefined && oursSet.has(target) && !neededByOthers.has(target)) {
          neededByOthers.add(target);
          pending.push(target);
        }
      }
    }
    const removable = ours.filter((c) => !neededByOthers.has(c));
    chainsKept.push(...ours.filter((c) => neededByOthers.has(c)).map((c) => `${table}/${c}`));
    const lines = [
      `*${table}`,
      ...removable.map((c) => `:${c} - [0:0]`),
      ...deletes,
      ...removable.map((c) => `-X ${c}`),
      'COMMIT',
      '',
    ];
    await ipt.restore(table, lines.join('\n'), { noflush: true });
    chainsDeleted += removable.length;
    rulesDeleted += deletes.length;
  }
  return { chainsDeleted, rulesDeleted, chainsKept };
}

/**
 * Runs a cleanup on the backends `--iptables-backend` names: legacy and nft for `auto` (a backend whose
 * tools are not installed has nothing to clean), else the one named.
 *
 * @param backend `--iptables-backend`
 * @param clean the cleanup of one backend
 * @example await cleanupEachBackend('auto', (b) => cleanupIptables(iptablesFor(exec, b)).then(() => {}))
 */
export async function cleanupEachBackend(
  backend: IptablesBackend,
  clean: (backend: ResolvedIptablesBackend) => Promise<void>,
): Promise<void> {
  const backends = backend === 'auto' ? (['legacy', 'nft'] as const) : [backend];
  for (const b of backends) {
    try {
      await clean(b);
    } catch (error) {
      if (backend === 'auto' && error instanceof KernelError && error.exitCode === -1) continue;
      throw error;
    }
  }
}
