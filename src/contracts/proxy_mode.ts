/**
 * The proxy modes and the iptables backend choice, as the flags spell them. Every layer may import this.
 *
 * @module
 */

/** The proxy modes, as `--proxy-mode` spells them. */
export type ProxyMode = 'userspace' | 'iptables' | 'ipvs' | 'nftables';

/** The iptables backend: follow the host's choice, or force one. */
export type IptablesBackend = 'auto' | 'legacy' | 'nft';

/** Every mode, as `--proxy-mode` accepts it. */
export const PROXY_MODES: readonly ProxyMode[] = ['userspace', 'iptables', 'ipvs', 'nftables'];

/**
 * Narrows a flag value to a {@link ProxyMode}.
 *
 * @param value what the user typed
 * @returns whether it names a mode
 * @example if (!isProxyMode(flag)) throw new FlagError(`--proxy-mode: unknown mode ${flag}`);
 */
export function isProxyMode(value: string): value is ProxyMode {
  return (PROXY_MODES as readonly string[]).includes(value);
}
