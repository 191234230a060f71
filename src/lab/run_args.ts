/**
 * The `kproxy run` arguments the end-to-end tests start the real daemon with: a lab node named `node-a`
 * reading a manifests directory, with no health or metrics server (a lab runs several daemons).
 *
 * @module
 */

/** What varies between the tests' daemons. */
export interface LabRunOptions {
  readonly mode: 'userspace' | 'iptables' | 'nftables' | 'ipvs';
  /** The watched manifests directory. */
  readonly manifests: string;
  /** `--iptables-backend` (default: not given, `auto`). */
  readonly iptablesBackend?: 'legacy' | 'nft' | undefined;
  /** Any further flags, after the common ones. */
  readonly extra?: readonly string[] | undefined;
}

/**
 * The argument vector of `kproxy run` for a lab's node.
 *
 * @param options mode, manifests directory, backend and further flags
 * @returns arguments for `spawnKproxy`
 * @example spawnKproxy(lab, lab.node.ns, labRunArgs({ mode: 'iptables', manifests: dir, extra: ['--log-format', 'json'] }))
 */
export function labRunArgs(options: LabRunOptions): string[] {
  const backend =
    options.iptablesBackend === undefined ? [] : ['--iptables-backend', options.iptablesBackend];
  return [
    'run',
    '--proxy-mode',
    options.mode,
    ...backend,
    '--manifests',
    options.manifests,
    '--hostname-override',
    'node-a',
    '--healthz-bind-address',
    '',
    '--metrics-bind-address',
    '',
    ...(options.extra ?? []),
  ];
}
