/**
 * `kproxy cleanup` for the userspace mode: every jump to the mode's chains and the chains themselves
 * (portal_chains.ts), on each backend `--iptables-backend` names, as every mode cleans up (legacy and nft
 * for `auto`, skipping one whose tools are not installed), in iptables and then ip6tables (a host without
 * ip6tables, or with IPv6 off in the kernel, has no IPv6 rules to remove). Succeeds when nothing is there.
 * A userspace-mode kproxy leaves its rules when it stops (for the next one: see proxier.ts), so kproxy in
 * any other mode removes them at start ({@link removeLeftoverPortals}): jumped to first from PREROUTING and
 * OUTPUT, they would capture the service traffic before that mode's rules.
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import { createIptables, type Iptables, iptablesFor } from '../../kernel/iptables.ts';
import type { IPFamily } from '../../model/types.ts';
import { cleanupEachBackend } from '../common/iptables_chain_cleanup.ts';
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
 * @throws {KernelError} when iptables fails for another reason than "not there" (or, with `auto`, "not
 *   installed")
 * @example await cleanupUserspace({ exec: createExec(), iptablesBackend: 'auto' })
 */
export async function cleanupUserspace(deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend'>): Promise<void> {
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    await removePortalRules(iptablesFor(deps.exec, backend));
    try {
      await removePortalRules(iptablesFor(deps.exec, backend, { family: 'IPv6' }));
    } catch (error) {
      if (!(error instanceof KernelError && noIpv6Tables(error))) throw error;
    }
  });
}

/** ip6tables not installed, or IPv6 off in the kernel: then no IPv6 portal rule can exist either. */
function noIpv6Tables(error: KernelError): boolean {
  return (
    error.exitCode === -1 || /Address family not supported|can't initialize ip6tables/i.test(error.stderr)
  );
}

/**
 * Removes the portal rules a userspace-mode kproxy left behind, for kproxy starting in another mode: one
 * listing of nat PREROUTING per family when there are none (the usual case), a removal when there are.
 * Never fails: a problem is logged and the start goes on.
 *
 * @param deps the exec seam, `--iptables-backend` and a logger
 * @param families the families kproxy serves
 * @returns the families whose leftovers were removed
 * @example await removeLeftoverPortals(deps, ['IPv4', 'IPv6'])
 */
export async function removeLeftoverPortals(
  deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend' | 'logger'>,
  families: readonly IPFamily[],
): Promise<IPFamily[]> {
  const removed: IPFamily[] = [];
  for (const family of families) {
    try {
      const ipt = await createIptables(deps.exec, deps.iptablesBackend, { family });
      const prerouting = await ipt.listRules('nat', 'PREROUTING');
      if (!prerouting?.some((r) => /-j KUBE-(PORTALS|NODEPORT)-CONTAINER$/.test(r))) continue;
      await removePortalRules(ipt);
      removed.push(family);
      deps.logger.info(
        { family },
        "Removed the portal rules a userspace-mode kproxy left (they would capture service traffic before this mode's rules)",
      );
    } catch (err) {
      deps.logger.warn({ err, family }, 'Could not check for portal rules a userspace-mode kproxy left');
    }
  }
  return removed;
}
