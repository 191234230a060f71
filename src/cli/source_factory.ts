/**
 * Picks the source of truth from the flags: a manifests path, or the API server (kubeconfig, master URL,
 * or in-cluster). The API client is loaded only when it is used.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { ProxySource } from '../sources/source.ts';
import { FlagError } from './flags.ts';

/** The source flags. */
export interface SourceFlags {
  readonly manifests?: string;
  readonly kubeconfig?: string;
  readonly master?: string;
}

/**
 * Creates the source the flags ask for.
 *
 * @param flags source flags
 * @param context node name (whose Node the source delivers through `start`'s `onNode`) and logger
 * @returns a source, not started
 * @throws FlagError when no source (or two) is given
 */
export async function createSource(
  flags: SourceFlags,
  context: {
    readonly nodeName: string;
    readonly logger: Logger;
    /** False for one-shot commands (`rules`, `trace`): they must not post Kubernetes Events. */
    readonly recordEvents?: boolean;
  },
): Promise<ProxySource> {
  const apiWanted = flags.kubeconfig !== undefined || flags.master !== undefined;
  if (flags.manifests !== undefined && apiWanted) {
    throw new FlagError('Choose one source: --manifests, or --kubeconfig/--master, not both');
  }
  if (flags.manifests !== undefined) {
    const { createManifestSource } = await import('../sources/manifest/index.ts');
    // The manifests may hold this node's Node (zone, addresses, pod CIDRs), as the API server would.
    return createManifestSource(flags.manifests, { nodeName: context.nodeName });
  }
  if (apiWanted || process.env['KUBERNETES_SERVICE_HOST'] !== undefined) {
    const { createApiServerSource } = await import('../sources/apiserver/index.ts');
    return createApiServerSource({
      ...(flags.kubeconfig === undefined ? {} : { kubeconfigPath: flags.kubeconfig }),
      ...(flags.master === undefined ? {} : { master: flags.master }),
      nodeName: context.nodeName,
      logger: context.logger,
      recordEvents: context.recordEvents ?? true,
    });
  }
  throw new FlagError(
    'No source of services: give --manifests PATH (a file or directory of Kubernetes YAML), or --kubeconfig FILE',
  );
}
