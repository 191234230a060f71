/**
 * Loads a `--config` file the way kube-proxy does: decode strictly, apply the v1alpha1 defaults and the
 * Linux platform defaults, validate. Anything wrong is one {@link ConfigFileError} naming the file and the
 * fields, raised before anything is programmed.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { ConfigFileError } from './config_error.ts';
import { applyPlatformDefaults, setDefaults } from './defaults.ts';
import { parseKubeProxyConfiguration } from './parse.ts';
import type { KubeProxyConfiguration } from './types.ts';
import { validateConfiguration } from './validate.ts';
import { configurationWarnings } from './warnings.ts';

/** A loaded configuration and its warnings (one per field kproxy accepts but does not act on). */
export interface LoadedConfiguration {
  readonly config: KubeProxyConfiguration;
  readonly warnings: readonly string[];
  /** The file's text, when read from a file (the daemon watches it for changes). */
  readonly text?: string | undefined;
}

/**
 * Parses, defaults and validates the text of a configuration file.
 *
 * @param text the file's content
 * @param file its name, for messages
 * @returns the effective configuration and the warnings
 * @throws {ConfigFileError} for anything wrong
 * @example const { config } = resolveConfigurationText(text, 'config.conf')
 */
export function resolveConfigurationText(text: string, file: string): LoadedConfiguration {
  const parsed = parseKubeProxyConfiguration(text, file);
  const config = applyPlatformDefaults(setDefaults(parsed.config));
  const problems = validateConfiguration(config);
  if (problems.length > 0) throw new ConfigFileError(file, problems);
  return { config, warnings: configurationWarnings(config, parsed.ignoredFields) };
}

/**
 * Reads a configuration file and resolves it.
 *
 * @param file the path given to `--config`
 * @returns the effective configuration and the warnings
 * @throws {ConfigFileError} when the file cannot be read, or for anything wrong in it
 * @example const { config, warnings } = await loadConfigurationFile('/var/lib/kube-proxy/config.conf')
 */
export async function loadConfigurationFile(file: string): Promise<LoadedConfiguration> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigFileError(file, [{ path: '', reason: `cannot read: ${reason}` }], { cause: error });
  }
  return { ...resolveConfigurationText(text, file), text };
}
