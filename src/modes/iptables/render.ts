/**
 * Prints an {@link IptablesPlan} as iptables-restore input: what `kproxy rules --proxy-mode iptables`
 * shows and what a full sync sends (one table per iptables-restore call). The jumps from built-in chains
 * are listed as `#` comments at the top of their table: iptables-restore ignores them, since the
 * applier installs them once rather than rewriting the built-in chains.
 *
 * @module
 */
import { renderRestore } from '../../kernel/iptables_restore.ts';
import type { IptablesPlan } from './plan.ts';

/**
 * Renders a plan as restore input (filter, then nat).
 *
 * @param plan the plan
 * @returns iptables-restore input with `*filter ... COMMIT` and `*nat ... COMMIT`
 * @example process.stdout.write(renderIptablesPlan(planIptables(state, options)))
 */
export function renderIptablesPlan(plan: IptablesPlan): string {
  return plan.tables
    .map((t) => {
      const jumps = plan.jumps
        .filter((j) => j.table === t.table)
        .map((j) => `# ensured once: -A ${j.from} ${j.rule}\n`)
        .join('');
      const body = renderRestore([t]);
      return jumps === '' ? body : body.replace(/^\*\w+\n/, (head) => head + jumps);
    })
    .join('');
}
