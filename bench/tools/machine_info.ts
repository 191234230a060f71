/**
 * The machine a benchmark ran on: CPU, cores, memory, kernel, OS, Node, the versions of the tools it drove,
 * and the load average (these machines are shared: a high load explains noisy numbers).
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';

/** What the results record about the machine. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  /** First line of each tool's version output; `missing` when it cannot run. */
  readonly tools: Readonly<Record<string, string>>;
  /** 1-minute load average when the run started. */
  readonly loadAverage: number;
}

/** The version commands of the tools the benchmark may use. */
const VERSION_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  wrk: ['wrk', '--version'],
  iperf3: ['iperf3', '--version'],
  haproxy: ['haproxy', '-v'],
  iptables: ['iptables', '--version'],
  'iptables-legacy': ['iptables-legacy', '--version'],
  nft: ['nft', '--version'],
  qemu: ['qemu-system-x86_64', '--version'],
};

/**
 * Collects the machine's description.
 *
 * @returns CPU, cores, memory, kernel, OS, Node and tool versions, load average
 * @example const machine = await machineInfo(); console.log(machine.cpuModel)
 */
export async function machineInfo(): Promise<MachineInfo> {
  const tools: Record<string, string> = {};
  await Promise.all(
    Object.entries(VERSION_COMMANDS).map(async ([name, argv]) => {
      tools[name] = await firstLine(argv);
    }),
  );
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os: await osName(),
    node: process.version,
    tools: Object.fromEntries(Object.entries(tools).sort(([a], [b]) => a.localeCompare(b))),
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/**
 * The pretty name from an os-release file.
 *
 * @param text the file's content
 * @returns PRETTY_NAME, unquoted, or `unknown`
 * @example parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') // 'Debian GNU/Linux 12 (bookworm)'
 */
export function parseOsRelease(text: string): string {
  const m = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(text);
  return m?.[1] ?? m?.[2] ?? 'unknown';
}

async function osName(): Promise<string> {
  try {
    return parseOsRelease(await readFile('/etc/os-release', 'utf8'));
  } catch {
    return 'unknown';
  }
}

/** Tools print their version on stdout or stderr, some with a non-zero exit (wrk): take whatever came. */
function firstLine(argv: readonly string[]): Promise<string> {
  const [command, ...args] = argv;
  return new Promise((resolve) => {
    execFile(command!, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      const line = `${stdout}\n${stderr}`.split('\n').find((l) => l.trim() !== '');
      resolve(
        line === undefined || (error !== null && 'code' in error && error.code === 'ENOENT')
          ? 'missing'
          : line.trim(),
      );
    });
  });
}
