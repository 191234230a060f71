/**
 * A one-shot read of this node's addresses, for a daemon that needs them before it starts the source
 * (NodePort destinations). The running source keeps them current through its `onNode` callback.
 *
 * @module
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { KproxyError } from '../../contracts/errors.ts';
import { type KubeConfigOptions, loadKubeConfig } from './kube_config.ts';
import { abortable } from './list_functions.ts';
import { nodeAddresses } from './node_addresses.ts';
import { describeError } from './reflector_errors.ts';

/** The Node could not be read. */
export class NodeLookupError extends KproxyError {
  override readonly name = 'NodeLookupError';
  override readonly code = 'KPROXY_NODE_LOOKUP';
}

/** Options of {@link readNodeAddresses}: where the API server is, which node, and a deadline. */
export interface ReadNodeAddressesOptions extends KubeConfigOptions {
  readonly nodeName: string;
  /** Aborts the request (default: a 10 s timeout). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Reads the Node once and returns its InternalIP addresses (ExternalIP ones if it has none).
 *
 * @param options `--kubeconfig`/`--master` (or in-cluster), the node name, an optional signal
 * @returns the addresses, possibly empty when the Node reports none
 * @throws KubeConfigError when the API server cannot be configured
 * @throws NodeLookupError when the request fails (unreachable, forbidden, no such node)
 * @example const ips = await readNodeAddresses({ kubeconfigPath: 'kubeconfig', nodeName: 'node-1' })
 */
export async function readNodeAddresses(options: ReadNodeAddressesOptions): Promise<string[]> {
  const core = loadKubeConfig(options).makeApiClient(CoreV1Api);
  const signal = options.signal ?? AbortSignal.timeout(10_000);
  // A list by name rather than a get: the ClusterRole grants list/watch on nodes, nothing more.
  let items: readonly unknown[];
  try {
    const list = await core.listNode(
      { fieldSelector: `metadata.name=${options.nodeName}` },
      abortable(signal),
    );
    items = list.items;
  } catch (cause) {
    throw new NodeLookupError(`Cannot read node ${options.nodeName}: ${describeError(cause)}`, { cause });
  }
  const [node] = items;
  if (node === undefined) throw new NodeLookupError(`Cannot read node ${options.nodeName}: no such node`);
  return nodeAddresses(JSON.parse(JSON.stringify(node)));
}
