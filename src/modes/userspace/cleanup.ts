/**
 * `kproxy cleanup` for the userspace mode: every jump to the mode's chains and the chains themselves
 * (portal_chains.ts), on each backend `--iptables-backend` names (legacy and nft for `auto`, as the
 * iptables mode cleans up). Succeeds when nothing is there, and on a backend whose tools are not
 * installed (nothing can be there). The Proxier removes its rules the same way when it stops.
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import { type Iptables, iptablesFor } from '../../kernel/iptables.ts';
import type { ProxierDeps } from '../mode.ts';
import { jumpArgs, PORTAL_CHAINS, PORTAL_JUMPS, PORTAL_TABLES } from './portal_chains.ts';

/** Copies of one jump deleted at most (an older run may have left duplicates; bounded all the same). */
const MAX_JUMP_COPIES = 16;

/**
 * Removes every jump to the mode's chains (every copy), then the chains, through one backend.
 *
 * @param ipt the iptables seam of one backend
 * @throws {KernelError} when iptables fails for another reason than "not there"
 * @example await removePortalRules(iptablesFor(exec, 'nft'))
 */
export async function removePortalRules(ipt: Iptables): Promise<void> {
  for (const jump of PORTAL_JUMPS) {
    const rule = { table: jump.table, chain: jump.from, args: jumpArgs(jump) };
    for (let copy = 0; copy < MAX_JUMP_COPIES; copy++) {
      if (!(await ipt.deleteRule(rule))) break;
    }
  }
  for (const table of PORTAL_TABLES) {
    for (const chain of PORTAL_CHAINS[table]) await ipt.deleteChain(table, chain);
  }
}

/**
 * Removes the userspace mode's rules on every backend `--iptables-backend` names.
 *
 * @param deps the exec seam and `--iptables-backend`
 * @throws {KernelError} when iptables fails for another reason than "not there" or "not installed"
 * @example await cleanupUserspace({ exec: createExec(), iptablesBackend: 'auto' })
 */
export async function cleanupUserspace(deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend'>): Promise<void> {
  const backends = deps.iptablesBackend === 'auto' ? (['legacy', 'nft'] as const) : [deps.iptablesBackend];
  for (const backend of backends) {
    try {
      await removePortalRules(iptablesFor(deps.exec, backend));
    } catch (error) {
      // Exit code -1: the tool could not be started, so this backend holds nothing of ours.
      if (error instanceof KernelError && error.exitCode === -1) continue;
      throw error;
    }
  }
}
