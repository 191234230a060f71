/**
 * `kproxy cleanup` for the nftables mode: deletes kproxy's tables, `ip kube-proxy` and `ip6 kube-proxy`
 * (each one `nft delete table`, which takes every chain, set and map in it), and nothing else: other
 * programs' tables, and iptables rules of any kind, are left alone. Succeeds when there is nothing to
 * delete, also on a host without nft (where there can be no table).
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import { createNft } from '../../kernel/nft.ts';
import type { NftFamily } from '../../kernel/nft_listing.ts';
import type { ProxierDeps } from '../mode.ts';
import { NFT_TABLE } from './names.ts';

/** The families kproxy may have a table in. */
const FAMILIES: readonly NftFamily[] = ['ip', 'ip6'];

/**
 * `kproxy cleanup --proxy-mode nftables`: deletes the `kube-proxy` table of each family.
 *
 * @param deps the daemon's deps (exec, logger); the iptables backend does not matter here
 * @throws {KernelError} when nft runs but fails to delete a table that exists
 * @example await cleanupNftablesMode(deps)
 */
export async function cleanupNftablesMode(deps: ProxierDeps): Promise<void> {
  const nft = createNft(deps.exec);
  const deleted: string[] = [];
  for (const family of FAMILIES) {
    try {
      if (await nft.deleteTable(family, NFT_TABLE)) deleted.push(`${family} ${NFT_TABLE}`);
    } catch (error) {
      // nft could not be started: then nothing can have made a table.
      if (error instanceof KernelError && error.exitCode === -1) {
        deps.logger.debug({ err: error }, 'No nft on this host: no nftables table to remove');
        return;
      }
      throw error;
    }
  }
  deps.logger.info({ tables: deleted }, 'Removed nftables mode tables');
}
