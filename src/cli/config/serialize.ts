/**
 * Writes a `KubeProxyConfiguration` as kube-proxy does: every field, keys in alphabetical order, durations
 * as Go strings (`30s`, `24h0m0s`), `null` for what is unset. `--write-config-to` writes it as YAML,
 * `/configz` serves it as JSON under the API group (`{"kubeproxy.config.k8s.io": {...}}`).
 *
 * @module
 */
import { stringify } from 'yaml';
import { formatGoDuration } from './go_duration.ts';
import { type FieldTable, KUBE_PROXY_CONFIGURATION_FIELDS } from './schema.ts';
import { KUBE_PROXY_CONFIG_GROUP, type KubeProxyConfiguration } from './types.ts';

function versioned(value: Record<string, unknown>, table: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(table).sort()) {
    const spec = table[name]!;
    const v = value[name];
    if (typeof spec.type !== 'string') {
      out[name] = versioned((v ?? {}) as Record<string, unknown>, spec.type);
    } else if (
      (spec.type === 'duration' || spec.type === 'durationPtr' || spec.type === 'timeOrDuration') &&
      typeof v === 'number'
    ) {
      out[name] = formatGoDuration(v);
    } else {
      out[name] = v ?? null;
    }
  }
  return out;
}

/**
 * The configuration as its v1alpha1 document (plain JSON values).
 *
 * @param config the configuration
 * @returns a new object, keys sorted
 * @example toVersionedObject(defaultConfiguration()).iptables // { localhostNodePorts: true, ..., syncPeriod: '30s' }
 */
export function toVersionedObject(config: KubeProxyConfiguration): Record<string, unknown> {
  return versioned(config as unknown as Record<string, unknown>, KUBE_PROXY_CONFIGURATION_FIELDS);
}

/**
 * The configuration as a YAML file (what `--write-config-to` writes).
 *
 * @param config the configuration
 * @returns YAML text
 * @example await writeFile(path, configurationYaml(config))
 */
export function configurationYaml(config: KubeProxyConfiguration): string {
  return stringify(toVersionedObject(config), { lineWidth: 0, nullStr: 'null' });
}

/**
 * The body of `/configz`: upstream's shape, one entry keyed by the API group.
 *
 * @param config the configuration
 * @returns a JSON-ready object
 * @example JSON.stringify(configzBody(config))
 */
export function configzBody(config: KubeProxyConfiguration): Record<string, unknown> {
  return { [KUBE_PROXY_CONFIG_GROUP]: toVersionedObject(config) };
}
