/**
 * The test data of kubeadm's kube-proxy ConfigMap (testdata/kubeadm-configmap.yaml).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The directory of the configuration test data. */
export const CONFIG_TESTDATA = join(import.meta.dirname, '..', 'testdata');

/**
 * `config.conf` of kubeadm's kube-proxy ConfigMap, as kube-proxy's DaemonSet mounts it.
 *
 * @returns the file's text
 * @example parseKubeProxyConfiguration(kubeadmConfigConf(), 'config.conf')
 */
export function kubeadmConfigConf(): string {
  const configMap = parse(readFileSync(join(CONFIG_TESTDATA, 'kubeadm-configmap.yaml'), 'utf8')) as {
    data: Record<string, string>;
  };
  return configMap.data['config.conf'] ?? '';
}
