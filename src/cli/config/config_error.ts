/**
 * The error of a configuration file kproxy cannot use.
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';

/** One thing wrong in a configuration file: the field's path (e.g. `conntrack.maxPerCore`) and why. */
export interface ConfigProblem {
  /** The JSON path of the field, `''` for the file as a whole. */
  readonly path: string;
  readonly reason: string;
}

/**
 * A `--config` file is unreadable, not YAML, not a `KubeProxyConfiguration` v1alpha1, has an unknown field,
 * a field of the wrong type or an invalid value. The message names the file and every field at fault.
 */
export class ConfigFileError extends KproxyError {
  override readonly name = 'ConfigFileError';
  override readonly code = 'KPROXY_CONFIG_INVALID';
  /** The file, as given. */
  readonly file: string;
  /** What is wrong, in the file's order (at least one). */
  readonly problems: readonly ConfigProblem[];

  /**
   * @param file the file, as given
   * @param problems what is wrong (at least one)
   * @param options `cause`: the failure this error wraps (e.g. the read error)
   */
  constructor(file: string, problems: readonly ConfigProblem[], options?: ErrorOptions) {
    const line = (p: ConfigProblem) => (p.path === '' ? p.reason : `${p.path}: ${p.reason}`);
    super(
      problems.length === 1
        ? `Invalid configuration file ${file}: ${line(problems[0]!)}`
        : `Invalid configuration file ${file}: ${problems.length} problems:\n${problems.map((p) => `  ${line(p)}`).join('\n')}`,
      options,
    );
    this.file = file;
    this.problems = problems;
  }
}
