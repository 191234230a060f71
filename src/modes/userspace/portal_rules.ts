/**
 * Programs the userspace mode's portal chains through the iptables seam (src/kernel/iptables.ts): the
 * chains' contents with one `iptables-restore --noflush` per table (atomic per table, and it touches only
 * our chains), then the jumps from the built-in chains with `ensureRule` (checked, then inserted or
 * appended, so that a re-apply never duplicates them). Removing them is cleanup.ts's job.
 *
 * The backend is `--iptables-backend` as the iptables mode reads it: `auto` is detected on the host (the
 * backend holding kubelet's marker chains, else the one with more rules, else nft), once. The family picks
 * the tools: iptables for IPv4, ip6tables for IPv6 (the same chains, in ip6tables' own tables).
 *
 * @module
 */

import type { IptablesBackend } from '../../contracts/proxy_mode.ts';
import type { Exec } from '../../kernel/exec.ts';
import { createIptables, type Iptables } from '../../kernel/iptables.ts';
import type { IPFamily } from '../../model/types.ts';
import { removePortalRules } from './cleanup.ts';
import type { UserspacePlan } from './plan.ts';
import { jumpArgs, PORTAL_JUMPS, PORTAL_TABLES, type PortalTable } from './portal_chains.ts';
import { renderPortalTable } from './render.ts';

/**
 * Applies and removes the portal rules through one backend.
 *
 * @example
 * const rules = new PortalRules(createExec(), 'auto');
 * if (await rules.usable()) await rules.apply(planUserspace(state, options));
 */
export class PortalRules {
  readonly #exec: Exec;
  readonly #backend: IptablesBackend;
  readonly #family: IPFamily;
  #iptables: Promise<Iptables> | undefined;

  /**
   * @param exec where the iptables tools run
   * @param backend `--iptables-backend` (`auto`: detected on the host when first needed)
   * @param family IPv4 (iptables, the default) or IPv6 (ip6tables)
   */
  constructor(exec: Exec, backend: IptablesBackend, family: IPFamily = 'IPv4') {
    this.#exec = exec;
    this.#backend = backend;
    this.#family = family;
  }

  /**
   * Tells whether iptables can be used here (a backend is installed, and we may read the nat table).
   *
   * @returns true when the nat table's OUTPUT chain can be listed
   */
  async usable(): Promise<boolean> {
    try {
      return await (await this.#seam()).chainExists('nat', 'OUTPUT');
    } catch {
      return false;
    }
  }

  /**
   * Writes the plan's rules (all our chains, one restore per table), then makes sure every jump exists.
   *
   * @param plan the plan (with real proxy ports: see `bindProxyPorts`)
   * @returns the restore input's size
   * @throws {KernelError} or {RestoreError} when iptables fails
   */
  async apply(plan: UserspacePlan): Promise<{ readonly bytes: number; readonly lines: number }> {
    const ipt = await this.#seam();
    let bytes = 0;
    let lines = 0;
    for (const table of PORTAL_TABLES) {
      const input = renderPortalTable(plan, table);
      await ipt.restore(table, input, { noflush: true });
      bytes += Buffer.byteLength(input);
      lines += input.split('\n').length - 1;
    }
    await this.ensureJumps();
    return { bytes, lines };
  }

  /**
   * Whether the kernel still holds the plan's portal rules (cheaply: each jump from a built-in chain, and
   * the last rule of each of our chains, read with `-S CHAIN N`): why not, or undefined.
   *
   * @param plan the plan applied last
   * @returns the damage found, or undefined
   */
  async damage(plan: UserspacePlan): Promise<string | undefined> {
    const ipt = await this.#seam();
    for (const jump of PORTAL_JUMPS) {
      const rules = await ipt.listRules(jump.table, jump.from);
      if (!rules?.some((r) => r.endsWith(`-j ${jump.to}`)))
        return `${jump.table} ${jump.from} no longer jumps to ${jump.to}`;
    }
    const counts = new Map<string, { table: PortalTable; chain: string; rules: number }>();
    for (const rule of plan.rules) {
      const key = `${rule.table} ${rule.chain}`;
      const c = counts.get(key) ?? { table: rule.table, chain: rule.chain, rules: 0 };
      c.rules++;
      counts.set(key, c);
    }
    for (const { table, chain, rules } of counts.values()) {
      if ((await ipt.listRules(table, chain, rules)) === undefined)
        return `${table} ${chain} holds fewer than its ${rules} rules (flushed?)`;
    }
    return undefined;
  }

  /** Inserts (portals, first) or appends (node ports, last) each jump that is missing. */
  async ensureJumps(): Promise<void> {
    const ipt = await this.#seam();
    for (const jump of PORTAL_JUMPS) {
      await ipt.ensureRule({ table: jump.table, chain: jump.from, args: jumpArgs(jump) }, jump.position);
    }
  }

  /**
   * Removes every jump and chain of the mode from the backend the rules were applied with.
   *
   * @throws {KernelError} when iptables fails for another reason than "not there"
   */
  async cleanup(): Promise<void> {
    await removePortalRules(await this.#seam());
  }

  /** The seam, its backend resolved once (a failed resolution is tried again next time). */
  #seam(): Promise<Iptables> {
    this.#iptables ??= createIptables(this.#exec, this.#backend, { family: this.#family }).catch(
      (error: unknown) => {
        this.#iptables = undefined;
        throw error;
      },
    );
    return this.#iptables;
  }
}
