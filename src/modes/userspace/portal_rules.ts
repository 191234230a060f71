/**
 * Programs the userspace mode's portal chains through the Exec seam: the chains' contents with one
 * `iptables-restore --noflush -w` (atomic, touches only our chains), the jumps from the built-in chains
 * with `iptables -C` then `-I`/`-A` (so a re-apply never duplicates them), and a cleanup that removes
 * jumps and chains and succeeds when nothing is there.
 *
 * Note for consolidation: this is a small, userspace-only wrapper; once src/kernel/iptables.ts (restore
 * seam with backend detection) exists, this should move onto it.
 *
 * @module
 */

import type { IptablesBackend } from '../../contracts/proxy_mode.ts';
import { type Exec, KernelError } from '../../kernel/exec.ts';
import { PORTAL_CHAINS, PORTAL_JUMPS, type UserspacePlan } from './plan.ts';
import { jumpArgs, renderPortalRestore } from './render.ts';

/** The iptables programs for a backend choice (`auto` follows the host's `iptables` alternative). */
export function iptablesCommands(backend: IptablesBackend): {
  readonly iptables: string;
  readonly restore: string;
} {
  switch (backend) {
    case 'auto':
      return { iptables: 'iptables', restore: 'iptables-restore' };
    case 'legacy':
      return { iptables: 'iptables-legacy', restore: 'iptables-legacy-restore' };
    case 'nft':
      return { iptables: 'iptables-nft', restore: 'iptables-nft-restore' };
    default: {
      const never: never = backend;
      throw new Error(`Unknown iptables backend: ${String(never)}`);
    }
  }
}

/** iptables' ways of saying "that rule or chain is not there" (exit code 1 with one of these). */
const NOT_THERE =
  /does a matching rule exist|No chain\/target\/match by that name|Bad rule|does ?n[o']t exist|No such file or directory/i;

/** Applies and removes the portal rules. */
export class PortalRules {
  readonly #exec: Exec;
  readonly #commands: { readonly iptables: string; readonly restore: string };

  constructor(exec: Exec, backend: IptablesBackend) {
    this.#exec = exec;
    this.#commands = iptablesCommands(backend);
  }

  /**
   * Tells whether iptables can be used here (installed, and we may read the nat table).
   *
   * @returns true when `iptables -w -t nat -S OUTPUT` succeeds
   */
  async usable(): Promise<boolean> {
    try {
      const result = await this.#exec(this.#commands.iptables, ['-w', '-t', 'nat', '-S', 'OUTPUT']);
      return result.code === 0;
    } catch {
      return false;
    }
  }

  /**
   * Writes the plan's rules (all our chains, atomically), then makes sure every jump exists.
   *
   * @param plan the plan
   * @returns the restore input's size
   * @throws {KernelError} when iptables fails
   */
  async apply(plan: UserspacePlan): Promise<{ readonly bytes: number; readonly lines: number }> {
    const input = renderPortalRestore(plan);
    await this.#must(this.#commands.restore, ['--noflush', '-w'], input);
    await this.ensureJumps();
    return { bytes: Buffer.byteLength(input), lines: input.split('\n').length - 1 };
  }

  /** Inserts (portals, first) or appends (node ports, last) each jump that is missing. */
  async ensureJumps(): Promise<void> {
    for (const jump of PORTAL_JUMPS) {
      const args = jumpArgs(jump);
      const check = await this.#exec(this.#commands.iptables, [
        '-w',
        '-t',
        jump.table,
        '-C',
        jump.from,
        ...args,
      ]);
      if (check.code === 0) continue;
      const add = jump.position === 'first' ? ['-I', jump.from, '1'] : ['-A', jump.from];
      await this.#must(this.#commands.iptables, ['-w', '-t', jump.table, ...add, ...args]);
    }
  }

  /**
   * Removes every jump and chain of the mode. Succeeds when nothing is there (or iptables is not installed:
   * then nothing can be there).
   *
   * @throws {KernelError} when iptables fails for another reason
   */
  async cleanup(): Promise<void> {
    if (!(await this.#installed())) return;
    for (const jump of PORTAL_JUMPS) {
      // Delete every copy (an older run may have left duplicates); bounded.
      for (let i = 0; i < 16; i++) {
        const args = ['-w', '-t', jump.table, '-D', jump.from, ...jumpArgs(jump)];
        const result = await this.#exec(this.#commands.iptables, args);
        if (result.code === 0) continue;
        if (!NOT_THERE.test(result.stderr)) {
          throw new KernelError([this.#commands.iptables, ...args].join(' '), result.code, result.stderr);
        }
        break;
      }
    }
    for (const table of ['nat', 'filter'] as const) {
      for (const chain of PORTAL_CHAINS[table]) {
        for (const op of ['-F', '-X']) {
          const args = ['-w', '-t', table, op, chain];
          const result = await this.#exec(this.#commands.iptables, args);
          if (result.code !== 0 && !NOT_THERE.test(result.stderr)) {
            throw new KernelError([this.#commands.iptables, ...args].join(' '), result.code, result.stderr);
          }
        }
      }
    }
  }

  async #installed(): Promise<boolean> {
    try {
      await this.#exec(this.#commands.iptables, ['--version']);
      return true;
    } catch (error) {
      if (error instanceof KernelError && error.exitCode === -1) return false;
      throw error;
    }
  }

  async #must(command: string, args: readonly string[], input?: string): Promise<void> {
    const result = await this.#exec(command, args, { input });
    if (result.code !== 0) throw new KernelError([command, ...args].join(' '), result.code, result.stderr);
  }
}
