/**
 * Whether a real-kernel test file (`*_kernel_test.ts`, `*_guest_test.ts`) can run on this machine: root,
 * every program it (or the lab and bench helpers it drives) runs, and for guest tests the prepared test
 * guest kernel. A test file passes {@link kernelTestSkip}'s answer as node:test's `skip` option of its
 * top-level `describe`, so that on a machine without the kernel tools (a fresh checkout, a laptop without
 * root) `npm test` passes and says exactly what it skipped:
 *
 * - one line on stderr per skipped file, naming one missing program per Debian package, e.g.
 *   `kernel test skipped: src/modes/iptables/iptables_kernel_test.ts needs ipset (not installed)`;
 * - one JSON line per skipped file appended to the file named by `KPROXY_TEST_SKIP_LOG` (set by
 *   scripts/run-tests.mjs, which prints one summary line at the end, see {@link SkipRecord});
 * - with `KPROXY_TEST_REQUIRE_KERNEL=1` (CI) a skip is a failure instead: {@link kernelTestSkip} throws,
 *   and the test file fails naming what is missing.
 *
 * Pure node (no shell): programs are looked up on PATH with `fs.accessSync(X_OK)`.
 *
 * @module
 */
import { accessSync, appendFileSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a real-kernel test file needs besides root (which every one of them needs). */
export interface KernelNeeds {
  /**
   * Programs run by the test or by the helpers it drives, as they are spawned (looked up on PATH), e.g.
   * `['ip', 'sysctl', 'iptables-legacy-restore', 'conntrack']`.
   */
  readonly tools: readonly string[];
  /** Needs the test guest kernel that scripts/guest-setup.sh prepares (the ipvs tests). */
  readonly guestKernel?: boolean | undefined;
}

/** The machine as {@link kernelTestSkip} sees it; every field defaults to this process's. */
export interface KernelCheckOptions {
  /** The user id (default `process.getuid()`; undefined where there is none, which is not root). */
  readonly uid?: number | undefined;
  /** The environment: PATH, `KPROXY_TEST_SKIP_LOG`, `KPROXY_TEST_REQUIRE_KERNEL` (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** The repository root (default: the nearest directory above the test file with a package.json). */
  readonly repoRoot?: string | undefined;
  /** Where the skip line goes (default: stderr). */
  readonly writeLine?: ((line: string) => void) | undefined;
}

/** One line of the `KPROXY_TEST_SKIP_LOG` file: a test file that was skipped, and why. */
export interface SkipRecord {
  /** The test file, relative to the repository root. */
  readonly file: string;
  /** The skip reason, as node:test reports it (e.g. `needs ipset (not installed)`). */
  readonly reason: string;
  /**
   * What is missing, in the words of the summary: `root`, a Debian package name (`ipset`, `iproute2`,
   * see {@link DEBIAN_PACKAGES}), or {@link GUEST_KERNEL}.
   */
  readonly missing: readonly string[];
}

/** The name of the prepared test guest kernel in reasons and summaries. */
export const GUEST_KERNEL = 'qemu guest kernel';

/** The environment variable naming the file that skips are appended to (JSON lines of {@link SkipRecord}). */
export const SKIP_LOG_ENV = 'KPROXY_TEST_SKIP_LOG';

/** The environment variable that turns a skip into a failure when it is `1` (CI). */
export const REQUIRE_KERNEL_ENV = 'KPROXY_TEST_REQUIRE_KERNEL';

/** What every lab (src/lab/lab.ts) runs: `ip` for namespaces, links and `ip netns exec`; `sysctl` for forwarding. */
export const LAB_TOOLS: readonly string[] = ['ip', 'sysctl'];

/**
 * What the iptables seam (src/kernel/iptables.ts) runs for both backends: `auto` reads both to pick one,
 * and cleanup removes kproxy's rules from both.
 */
export const IPTABLES_TOOLS: readonly string[] = [
  'iptables-legacy-save',
  'iptables-legacy-restore',
  'iptables-nft-save',
  'iptables-nft-restore',
];

/**
 * The Debian package of each program the kernel tests and benchmarks run (all of them are installed by
 * `npm run setup`, scripts/setup.sh). A program not listed is its own package's name.
 */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  ss: 'iproute2',
  sysctl: 'procps',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  'iptables-legacy-save': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'iptables-nft-save': 'iptables',
  'iptables-nft-restore': 'iptables',
  ipset: 'ipset',
  conntrack: 'conntrack',
  ipvsadm: 'ipvsadm',
  nft: 'nftables',
  modprobe: 'kmod',
  'qemu-system-x86_64': 'qemu-system-x86',
  busybox: 'busybox-static',
  curl: 'curl',
  haproxy: 'haproxy',
  wrk: 'wrk',
  iperf3: 'iperf3',
  kubectl: 'kubernetes-client',
};

/**
 * Finds a program the way spawn does: the first executable regular file of that name in a PATH directory
 * (a name with a slash is taken as a path).
 *
 * @param tool the program, e.g. `ipset`
 * @param path a PATH value (`:`-separated)
 * @returns its full path, or undefined when it is not installed (or not on that PATH)
 * @example findOnPath('ip', '/usr/sbin:/usr/bin') // '/usr/bin/ip'
 */
export function findOnPath(tool: string, path: string): string | undefined {
  const candidates = tool.includes('/')
    ? [tool]
    : path
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, tool));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Whether the test guest is prepared, read as scripts/guest-setup.sh writes its cache:
 * `.cache/guest/current` names the kernel version, and `.cache/guest/<version>/READY` marks its build
 * complete (the initramfs is rebuilt by src/lab/guest/guest_image.ts's ensureGuestImage when needed).
 *
 * @param repoRoot the repository root
 * @returns true when the cache names a complete kernel
 * @example guestKernelReady('/work/main') // false before `npm run setup`
 */
export function guestKernelReady(repoRoot: string): boolean {
  const cache = join(repoRoot, '.cache', 'guest');
  let version: string;
  try {
    version = readFileSync(join(cache, 'current'), 'utf8').trim();
  } catch {
    return false;
  }
  return version !== '' && !version.includes('/') && existsSync(join(cache, version, 'READY'));
}

/** The nearest directory at or above `dir` that has a package.json (else `dir` itself). */
function findRepoRoot(dir: string): string {
  for (let current = dir; ; ) {
    if (existsSync(join(current, 'package.json'))) return current;
    const parent = dirname(current);
    if (parent === current) return dir;
    current = parent;
  }
}

/** What is missing for `needs`, and the reason that says so (false when nothing is). */
function check(
  needs: KernelNeeds,
  uid: number | undefined,
  path: string,
  repoRoot: string,
): { reason: string | false; missing: string[] } {
  const parts: string[] = [];
  const missing: string[] = [];
  if (uid !== 0) {
    parts.push('needs root');
    missing.push('root');
  }
  // One missing program per Debian package is enough to say what to install (iptables-legacy-save,
  // iptables-nft-save, ... all come with iptables): the line stays short.
  const absent = new Map<string, string>();
  for (const tool of [...needs.tools].sort()) {
    const pkg = DEBIAN_PACKAGES[tool] ?? tool;
    if (!absent.has(pkg) && findOnPath(tool, path) === undefined) absent.set(pkg, tool);
  }
  if (absent.size > 0) {
    parts.push(`needs ${[...absent.values()].sort().join(', ')} (not installed)`);
    missing.push(...absent.keys());
  }
  if (needs.guestKernel === true && !guestKernelReady(repoRoot)) {
    parts.push(`needs the ${GUEST_KERNEL} (not prepared: scripts/guest-setup.sh)`);
    missing.push(GUEST_KERNEL);
  }
  return { reason: parts.length === 0 ? false : parts.join('; '), missing: [...new Set(missing)] };
}

/** Test files already reported in this process: a file with several top-level suites says it once. */
const reported = new Set<string>();

/**
 * Decides whether a real-kernel test file runs here, for node:test's `skip` option of its top-level
 * `describe`. When it cannot run, prints one line to stderr
 * (`kernel test skipped: FILE needs ipset (not installed)`) and appends a {@link SkipRecord} to the file
 * named by `KPROXY_TEST_SKIP_LOG`, once per file; with `KPROXY_TEST_REQUIRE_KERNEL=1` it throws instead,
 * so that the file fails (CI runs every kernel test, a missing tool must not pass as a skip).
 *
 * @param testFile the test file: its `import.meta.url` (or a path)
 * @param needs the programs it runs, and whether it needs the test guest kernel; root is always needed
 * @param options the machine (defaults: this process's uid and environment)
 * @returns false when everything is there (run), else the skip reason, e.g. `needs root`
 * @throws {Error} when something is missing and `KPROXY_TEST_REQUIRE_KERNEL=1`
 * @example
 * const skip = kernelTestSkip(import.meta.url, { tools: ['ip', 'sysctl', 'iptables-save', 'conntrack'] });
 * describe('userspace mode in a lab', { skip }, () => { ... });
 */
export function kernelTestSkip(
  testFile: string | URL,
  needs: KernelNeeds,
  options: KernelCheckOptions = {},
): string | false {
  const env = options.env ?? process.env;
  const uid = 'uid' in options ? options.uid : process.getuid?.();
  const path = String(testFile).startsWith('file:') ? fileURLToPath(testFile) : resolve(String(testFile));
  const root = options.repoRoot ?? findRepoRoot(dirname(path));
  const file = isAbsolute(path) ? relative(root, path) : path;
  const { reason, missing } = check(needs, uid, env['PATH'] ?? '', root);
  if (reason === false) return false;
  if (env[REQUIRE_KERNEL_ENV] === '1') {
    throw new Error(
      `kernel test cannot run: ${file} ${reason}; ${REQUIRE_KERNEL_ENV}=1 makes this a failure ` +
        '(as root, `npm run setup` installs what the kernel tests need)',
    );
  }
  if (!reported.has(path)) {
    reported.add(path);
    (options.writeLine ?? ((line: string) => process.stderr.write(`${line}\n`)))(
      `kernel test skipped: ${file} ${reason}`,
    );
    const log = env[SKIP_LOG_ENV];
    if (log !== undefined && log !== '') {
      const record: SkipRecord = { file, reason, missing };
      appendFileSync(log, `${JSON.stringify(record)}\n`);
    }
  }
  return reason;
}
