/**
 * Finds the manifest files under a path: the file itself, or every `.yaml`, `.yml` and `.json` file under
 * a directory, recursively, skipping dotfiles and dot-directories (`.git`, editor swap files, and the
 * `..data` timestamped directories of a mounted ConfigMap, whose files are reached via their symlinks).
 *
 * @module
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { ObjectProblem } from '../../model/problem.ts';

/** The manifest files found under a path. */
export interface ManifestFileListing {
  /** Display name (see {@link displayName}) to absolute path, in sorted order. */
  readonly files: ReadonlyMap<string, string>;
  /** Absolute directories worth watching for changes. */
  readonly directories: readonly string[];
  /**
   * Display names of directories that could not be read (`.` for the path itself): what was under them is
   * unknown, not gone.
   */
  readonly unreadable: readonly string[];
  /** Unreadable directories, or a missing path. */
  readonly problems: readonly ObjectProblem[];
}

const MANIFEST_EXTENSION = /\.(ya?ml|json)$/;

/**
 * The name of a file in problems: relative to the manifest root (the directory given, or the directory of
 * the file given), with `/` separators, e.g. `apps/web.yaml`; stable whatever the working directory.
 *
 * @param root the absolute manifest root directory
 * @param file an absolute file path under it
 * @returns the display name
 */
export function displayName(root: string, file: string): string {
  return relative(root, file).split(sep).join('/') || '.';
}

/**
 * Lists the manifest files under `path`. Never throws: a missing path or an unreadable directory is a
 * problem (KPROXY_PARSE, file `path` as given for the path itself).
 *
 * @param path a file (read whatever its extension) or a directory (walked recursively)
 * @returns the files, the directories to watch, and problems
 * @example const { files } = await listManifestFiles('./manifests'); // Map { 'web.yaml' => '/abs/manifests/web.yaml' }
 */
export async function listManifestFiles(path: string): Promise<ManifestFileListing> {
  const absolute = resolve(path);
  let kind: 'file' | 'directory';
  try {
    kind = (await stat(absolute)).isDirectory() ? 'directory' : 'file';
  } catch (error) {
    return {
      files: new Map(),
      directories: [],
      unreadable: ['.'],
      problems: [listingProblem(path, 'cannot read', error)],
    };
  }
  if (kind === 'file') {
    const files = new Map([[basename(absolute), absolute]]);
    return { files, directories: [dirname(absolute)], unreadable: [], problems: [] };
  }
  const files: [string, string][] = [];
  const directories: string[] = [];
  const problems: ObjectProblem[] = [];
  const unreadable: string[] = [];
  const visited = new Set<string>();
  const walk = async (directory: string): Promise<void> => {
    let entries: Dirent[];
    try {
      // A symlink loop would walk forever: visit each real directory once.
      const real = await realpath(directory);
      if (visited.has(real)) return;
      visited.add(real);
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      unreadable.push(displayName(absolute, directory));
      problems.push(
        listingProblem(
          directory === absolute ? path : displayName(absolute, directory),
          'cannot read directory',
          error,
        ),
      );
      return;
    }
    directories.push(directory);
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(directory, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined); // a dangling link is not a manifest
        isDirectory = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDirectory) await walk(full);
      else if (isFile && MANIFEST_EXTENSION.test(entry.name)) files.push([displayName(absolute, full), full]);
    }
  };
  await walk(absolute);
  files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { files: new Map(files), directories, unreadable, problems };
}

function listingProblem(file: string, what: string, error: unknown): ObjectProblem {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  const reason = code === 'ENOENT' ? 'does not exist' : `${what} (${code})`;
  return { code: 'KPROXY_PARSE', file, kind: '?', namespace: '', name: '', field: '', reason };
}
