/**
 * What kproxy tells the operator it will not do: one warning per field of the configuration that asks
 * for something kproxy does not implement yet. A field warns when the file sets it to something other
 * than its zero value and upstream's default, and, for the settings by which kube-proxy changes the node
 * even when the file leaves them unset (localhost NodePorts in iptables mode), whenever their effective
 * value would make kube-proxy act. Nothing is dropped silently. (The conntrack sysctls and the OOM score
 * are applied: src/kernel/node_tuning.ts; so are the ipvs settings: src/modes/ipvs/tuning.ts.)
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import { defaultConfiguration } from './defaults.ts';
import { isZeroValue } from './parse.ts';
import type { KubeProxyConfiguration } from './types.ts';

function valueAt(config: KubeProxyConfiguration, path: string): unknown {
  let value: unknown = config;
  for (const key of path.split('.')) value = (value as Record<string, unknown> | null)?.[key];
  return value;
}

/**
 * The warnings of an effective configuration.
 *
 * @param config the effective configuration (defaults applied)
 * @param ignoredFields paths of the ignored fields the file set to non-zero values
 * @returns one `PATH: ...` warning per field, in the file's order, node settings last
 * @example configurationWarnings(config, ['enableProfiling']) // ['enableProfiling: not supported yet: ignored', ...]
 */
export function configurationWarnings(
  config: KubeProxyConfiguration,
  ignoredFields: readonly string[],
): string[] {
  const defaults = defaultConfiguration();
  const paths = ignoredFields.filter((p) => !isDeepStrictEqual(valueAt(config, p), valueAt(defaults, p)));
  // Settings kube-proxy applies to the node by default (so their defaults alone are worth a warning).
  const nodeSettings = config.mode === 'iptables' ? ['iptables.localhostNodePorts'] : [];
  for (const path of nodeSettings) {
    if (!paths.includes(path) && !isZeroValue(valueAt(config, path))) paths.push(path);
  }
  return paths.map((p) => `${p}: not supported yet: ignored`);
}
