/**
 * Where the API server is and how to authenticate, chosen as kube-proxy chooses it
 * (`cmd/kube-proxy/app/server.go`, `createClient`): a kubeconfig file, then `--master` overriding its
 * server; with neither, the in-cluster service account.
 *
 * @module
 */
import { KubeConfig } from '@kubernetes/client-node';
import { KproxyError } from '../../contracts/errors.ts';

/** The API server cannot be configured from the given flags or environment. */
export class KubeConfigError extends KproxyError {
  override readonly name = 'KubeConfigError';
  override readonly code = 'KPROXY_KUBECONFIG';
}

/** Options of {@link loadKubeConfig}. */
export interface KubeConfigOptions {
  /** `--kubeconfig`: a kubeconfig file. */
  readonly kubeconfigPath?: string | undefined;
  /** `--master`: the API server URL (overrides the kubeconfig's server when both are given). */
  readonly master?: string | undefined;
  /** Where `KUBERNETES_SERVICE_HOST` is looked up (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Prefix of the service-account paths, for tests (default ''). */
  readonly inClusterPathPrefix?: string | undefined;
}

/**
 * Loads the client configuration.
 *
 * @param options `--kubeconfig`, `--master`, and the environment for in-cluster detection
 * @returns a KubeConfig whose current cluster is the API server to use
 * @throws KubeConfigError when the file cannot be read, has no current cluster, the URL is bad, or
 *   nothing is given outside a cluster
 * @example const kc = loadKubeConfig({ kubeconfigPath: '/etc/kproxy/kubeconfig' })
 */
export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  const kc = new KubeConfig();
  const { kubeconfigPath, master } = options;
  if (kubeconfigPath !== undefined) {
    try {
      kc.loadFromFile(kubeconfigPath);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw new KubeConfigError(`Cannot load kubeconfig ${kubeconfigPath}: ${detail}`, { cause });
    }
    const cluster = kc.getCurrentCluster();
    if (cluster === null) {
      throw new KubeConfigError(
        `Cannot load kubeconfig ${kubeconfigPath}: no current context with a cluster`,
      );
    }
    if (master !== undefined) {
      const server = checkedUrl(master);
      kc.loadFromOptions({
        clusters: kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server } : c)),
        users: kc.users,
        contexts: kc.contexts,
        currentContext: kc.currentContext,
      });
    }
    return kc;
  }
  if (master !== undefined) {
    const server = checkedUrl(master);
    kc.loadFromOptions({
      // The client refuses plain HTTP unless TLS verification is off; there is no TLS to verify.
      clusters: [{ name: 'master', server, skipTLSVerify: server.startsWith('http:') }],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'master', cluster: 'master', user: 'anonymous' }],
      currentContext: 'master',
    });
    return kc;
  }
  const env = options.env ?? process.env;
  if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
    kc.loadFromCluster(options.inClusterPathPrefix);
    return kc;
  }
  throw new KubeConfigError(
    'No API server: give --kubeconfig FILE or --master URL, or run in a pod (KUBERNETES_SERVICE_HOST unset)',
  );
}

function checkedUrl(master: string): string {
  let url: URL;
  try {
    url = new URL(master);
  } catch (cause) {
    throw new KubeConfigError(`Invalid --master URL: ${JSON.stringify(master)}`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubeConfigError(`Invalid --master URL: ${JSON.stringify(master)} is not http(s)`);
  }
  // The client appends API paths to the server string: no trailing slash.
  return master.replace(/\/+$/, '');
}
