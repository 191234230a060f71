/**
 * The Kubernetes API server source: `kproxy run --kubeconfig FILE | --master URL` (or in-cluster).
 *
 * @module
 */
export {
  type ApiServerSource,
  type ApiServerSourceOptions,
  type ApiServerTuning,
  createApiServerSource,
  HEADLESS_LABEL,
  SERVICE_PROXY_NAME_LABEL,
} from './api_server_source.ts';
export type { BackoffOptions } from './backoff.ts';
export { type SourceClock, systemClock } from './clock.ts';
export { KubeConfigError, type KubeConfigOptions, loadKubeConfig } from './kube_config.ts';
export { nodeAddresses } from './node_addresses.ts';
export { FAILED_TO_PROXY } from './problem_event_recorder.ts';
export { NodeLookupError, type ReadNodeAddressesOptions, readNodeAddresses } from './read_node_addresses.ts';
