/**
 * `kproxy rules --proxy-mode ipvs`: one family's plan in the kernel tools' own formats — the
 * virtual-server table as `ipvsadm -R` input, the kube-ipvs0 addresses, the ipsets as `ipset restore`
 * input, and the rules as `iptables-restore` (IPv4) or `ip6tables-restore` (IPv6) input. modes/dual_stack.ts
 * prints the two families one after the other.
 *
 * @module
 */

import { renderIpsetRestore } from '../../kernel/ipset.ts';
import { renderRestore } from '../../kernel/iptables_restore.ts';
import { type IpvsCommand, renderIpvsRestore } from '../../kernel/ipvs.ts';
import { IPVS_DUMMY_DEVICE } from '../../kernel/ipvs_netlink.ts';
import type { IpvsPlan } from './plan.ts';

/**
 * Renders a plan.
 *
 * @param plan the plan
 * @returns the text `kproxy rules` prints
 */
export function renderIpvsPlan(plan: IpvsPlan): string {
  const out: string[] = [];
  for (const warning of plan.warnings) out.push(`# warning: ${warning}\n`);
  out.push('# IPVS virtual servers (ipvsadm -R)\n');
  const commands: IpvsCommand[] = [];
  for (const vs of plan.virtualServers) {
    const id = { protocol: vs.protocol, address: vs.address, port: vs.port };
    commands.push({
      op: 'add-service',
      service: { ...id, scheduler: vs.scheduler, flags: vs.flags, persistentTimeout: vs.persistentTimeout },
    });
    for (const server of vs.realServers) commands.push({ op: 'add-server', service: id, server });
  }
  out.push(renderIpvsRestore(commands));
  out.push(`# addresses on ${IPVS_DUMMY_DEVICE} (dummy)\n`);
  for (const address of plan.bindAddresses) out.push(`# ${address}\n`);
  for (const family of plan.families) {
    out.push(`# ipsets, ${family.family} (ipset restore)\n`);
    out.push(renderIpsetRestore(family.ipsets));
    out.push(
      `# iptables rules, ${family.family} (${family.family === 'IPv4' ? 'iptables' : 'ip6tables'}-restore --noflush)\n`,
    );
    out.push(renderRestore(family.tables));
  }
  return out.join('');
}
