/**
 * The manifest source: Services, EndpointSlices and legacy Endpoints read from a file or directory of
 * Kubernetes YAML/JSON, followed as it changes.
 *
 * @module
 */
export { type LoadedManifests, type LoadedObject, loadManifests, mergeManifests } from './load_manifests.ts';
export { createManifestSource, type ManifestSourceOptions } from './manifest_source.ts';
export {
  type ManifestEntry,
  type ManifestKind,
  type ParsedManifestFile,
  type ParseManifestOptions,
  parseManifestFile,
} from './parse_manifest_file.ts';
