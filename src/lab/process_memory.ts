/**
 * The memory of a running process as the kernel counts it (/proc/PID/status): what a benchmark reports
 * for the daemon it drove.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';

/** Resident memory of a process, from /proc/PID/status. */
export interface ProcessMemory {
  readonly rssKb: number;
  /** The peak resident set (VmHWM). */
  readonly peakRssKb: number;
}

/**
 * Reads VmRSS and VmHWM from a /proc/PID/status text.
 *
 * @param text the status file
 * @returns the two figures in kB (0 when absent)
 * @example parseProcStatus('VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n') // { rssKb: 1024, peakRssKb: 2048 }
 */
export function parseProcStatus(text: string): ProcessMemory {
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), peakRssKb: kb('VmHWM') };
}

/**
 * Reads a running process's resident and peak resident memory.
 *
 * @param pid the process (in any network namespace: /proc is the host's)
 * @returns the two figures in kB
 * @example const { peakRssKb } = await readProcessMemory(daemon.child.pid!)
 */
export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  return parseProcStatus(await readFile(`/proc/${pid}/status`, 'utf8'));
}
