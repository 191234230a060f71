/**
 * The `ip kube-proxy` (or `ip6 kube-proxy`) table of a strict nft fake as one comparable value: every chain with its rules (in
 * order) and every set and map with its elements (sorted). Two tables that dump alike hold the same
 * ruleset, whatever the order of the syncs that built them.
 *
 * @module
 */
import { createNft } from '../../../kernel/nft.ts';
import type { NftFamily } from '../../../kernel/nft_listing.ts';
import type { FakeNft } from '../../../kernel/testing/nft_fake.ts';

/** A table's content. */
export interface TableDump {
  readonly chains: Readonly<Record<string, readonly string[]>>;
  readonly containers: Readonly<Record<string, readonly string[]>>;
}

/**
 * Dumps kproxy's table from the fake.
 *
 * @param fake the fake
 * @param family the table's family (`ip`, or `ip6` for the IPv6 Proxier's)
 * @returns its content, or undefined when there is no table
 * @example assert.deepEqual(await tableDump(a), await tableDump(b))
 */
export async function tableDump(fake: FakeNft, family: NftFamily = 'ip'): Promise<TableDump | undefined> {
  const listed = await createNft(fake.exec).listTable(family, 'kube-proxy');
  if (listed === undefined) return undefined;
  const chains: Record<string, readonly string[]> = {};
  for (const name of listed.chains.keys()) chains[name] = fake.rules(family, 'kube-proxy', name) ?? [];
  const containers: Record<string, readonly string[]> = {};
  for (const name of listed.containers.keys())
    containers[name] = fake.elements(family, 'kube-proxy', name) ?? [];
  return { chains, containers };
}
