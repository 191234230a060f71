/**
 * How to run one of kproxy's own modules as a separate Node process (inside a namespace, with
 * `ip netns exec`): from the TypeScript sources under tsx, or from the compiled JavaScript.
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The argument vector that runs a module of this package as a Node program.
 *
 * @param moduleUrl the module's `import.meta.url`-style URL (a `.ts` file is run through tsx)
 * @param args the program's own arguments
 * @returns `[node, ...loader, file, ...args]`, ready for spawn or `ip netns exec`
 * @example nodeModuleArgv(new URL('./identity_server.ts', import.meta.url).href, ['--name', 'pod0'])
 */
export function nodeModuleArgv(moduleUrl: string, args: readonly string[]): string[] {
  const file = fileURLToPath(moduleUrl);
  // A .ts source needs the tsx loader; resolve it from here so the child's working directory does not matter.
  const loader = file.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  return [process.execPath, ...loader, file, ...args];
}

/**
 * Tells whether the module is the program's entry point (`node file.ts`), not an import.
 *
 * @param moduleUrl the module's `import.meta.url`
 * @returns true when run directly
 * @example if (isMainModule(import.meta.url)) main();
 */
export function isMainModule(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === moduleUrl;
}
