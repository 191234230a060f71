/**
 * Locates (and builds once, through scripts/guest-setup.sh) the cached guest kernel, module tree and
 * initramfs under `.cache/guest/<kernel version>/`.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestError } from './guest_error.ts';

/** The files a guest boots from. */
export interface GuestImage {
  /** The kernel release, e.g. `6.1.0-56-amd64`. */
  readonly version: string;
  /** The uncompressed ELF kernel (booted through its PVH entry). */
  readonly vmlinux: string;
  readonly initramfs: string;
  /** `lib/modules/<version>` of the guest kernel, on the host (the guest reads it over 9p). */
  readonly modules: string;
}

/** The repository root (this file is src/lab/guest/guest_image.ts, or dist/lab/guest/guest_image.js). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The setup script that builds the cache. */
export const guestSetupScript: string = join(repoRoot, 'scripts', 'guest-setup.sh');

let pending: Promise<GuestImage> | undefined;

/**
 * Returns the guest image, running `scripts/guest-setup.sh` the first time in this process (it returns at
 * once when the cache is complete; it installs missing apt packages and downloads the kernel otherwise).
 *
 * @returns the paths to boot from
 * @example const image = await ensureGuestImage()
 */
export function ensureGuestImage(): Promise<GuestImage> {
  pending ??= buildImage().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function buildImage(): Promise<GuestImage> {
  const dir = await new Promise<string>((resolveDir, reject) => {
    execFile(
      'sh',
      [guestSetupScript, '--print-dir'],
      { timeout: 15 * 60_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(
            new GuestError(`Cannot build the test guest: ${guestSetupScript} failed: ${stderr.trim()}`, '', {
              cause: error,
            }),
          );
          return;
        }
        resolveDir(stdout.trim().split('\n').at(-1) ?? '');
      },
    );
  });
  const version = dir.split('/').at(-1) ?? '';
  const image: GuestImage = {
    version,
    vmlinux: join(dir, 'vmlinux'),
    initramfs: join(dir, 'initramfs.cpio'),
    modules: join(dir, 'root', 'lib', 'modules', version),
  };
  for (const path of [image.vmlinux, image.initramfs, image.modules]) {
    try {
      await access(path);
    } catch (error) {
      throw new GuestError(`The test guest cache is incomplete: missing ${path}`, '', { cause: error });
    }
  }
  return image;
}
