/**
 * The nftables mode's startup check: nft 1.0.1 or later runs, the kernel is 5.13 or later, and it accepts
 * a script with every feature the mode writes (`nft -c`, nothing committed); otherwise one error naming
 * what is missing (src/kernel/nft.ts: checkNftHost). With `options.ipFamily` IPv6 the script is the `ip6`
 * one: a kernel that refuses an ip6 table (or one of its features) leaves IPv6 out (modes/dual_stack.ts).
 *
 * @module
 */
import { checkNftHost } from '../../kernel/nft.ts';
import type { ProxierDeps } from '../mode.ts';
import { nftFamilyOf } from './plan.ts';

/**
 * Fails with `NftUnavailableError` (code `KPROXY_NFT_UNAVAILABLE`) unless this host can run the nftables
 * mode for the family of `deps.options.ipFamily` (IPv4 when unset); logs what it found.
 *
 * @param deps the daemon's deps (exec, logger)
 * @throws {NftUnavailableError} naming nft, a newer nft, a newer kernel or the missing kernel feature
 * @example await checkNftablesHost(deps)
 */
export async function checkNftablesHost(deps: ProxierDeps): Promise<void> {
  const family = nftFamilyOf(deps.options);
  const found = await checkNftHost(deps.exec, { family });
  deps.logger.debug({ ...found, family }, 'This host can run the nftables mode');
}
