/**
 * Runs the real `kproxy` executable (the TypeScript sources through tsx) for the CLI's end-to-end tests.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'bin.ts');

/**
 * Runs `kproxy ARGS` to completion (killed after 20 s).
 *
 * @param args the arguments
 * @returns its exit code and output
 * @example const { code, stdout } = await kproxy(['rules', '--manifests', dir])
 */
export function kproxy(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
