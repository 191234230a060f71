/**
 * Renders a {@link UserspacePlan}: the `iptables-restore --noflush` input that programs the portal chains,
 * and (for `kproxy rules`) the same preceded by comments: the listener table and the jumps from the
 * built-in chains that the applier ensures separately (they must not be duplicated by a re-apply).
 *
 * @module
 */
import { PORTAL_CHAINS, PORTAL_JUMPS, type PortalJump, type PortalRule, type UserspacePlan } from './plan.ts';

/**
 * The arguments of a portal rule after `-A CHAIN`, in the order iptables-save prints them.
 *
 * @param rule the rule
 * @returns the argument list (the comment is one unquoted element)
 * @example portalRuleArgs(rule).join(' ')
 */
export function portalRuleArgs(rule: PortalRule): string[] {
  const args = ['-m', 'comment', '--comment', rule.comment, '-p', rule.protocol, '-m', rule.protocol];
  args.push('--dport', String(rule.dport));
  if (rule.destination !== undefined) args.push('-d', rule.destination);
  if (rule.dstLocal) args.push('-m', 'addrtype', '--dst-type', 'LOCAL');
  if (rule.newOnly) args.push('-m', 'conntrack', '--ctstate', 'NEW');
  const target = rule.target;
  switch (target.kind) {
    case 'REDIRECT':
      args.push('-j', 'REDIRECT', '--to-ports', String(target.toPort));
      break;
    case 'DNAT':
      args.push('-j', 'DNAT', '--to-destination', `${target.toIP}:${target.toPort}`);
      break;
    case 'ACCEPT':
      args.push('-j', 'ACCEPT');
      break;
    default: {
      const never: never = target;
      throw new Error(`Unknown portal target: ${JSON.stringify(never)}`);
    }
  }
  return args;
}

/**
 * The arguments of a jump rule (match and `-j CHAIN`).
 *
 * @param jump the jump
 * @returns arguments after `-I/-A/-C/-D FROM`
 * @example jumpArgs(PORTAL_JUMPS[0]!)
 */
export function jumpArgs(jump: PortalJump): string[] {
  return [...jump.args, '-j', jump.to];
}

/** Joins arguments into a restore line, quoting those with spaces (comments are already character-safe). */
function line(args: readonly string[]): string {
  return args.map((a) => (/^[A-Za-z0-9._/:,=+-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '_')}"`)).join(' ');
}

/**
 * The `iptables-restore --noflush` input for a plan: declares (and so flushes) every chain the mode owns,
 * then appends every rule. Only those chains are touched.
 *
 * @param plan the plan
 * @returns the restore input
 * @example await mustExec(exec, 'iptables-restore', ['--noflush', '-w'], { input: renderPortalRestore(plan) })
 */
export function renderPortalRestore(plan: UserspacePlan): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    out.push(`*${table}`);
    for (const chain of PORTAL_CHAINS[table]) out.push(`:${chain} - [0:0]`);
    for (const rule of plan.rules)
      if (rule.table === table) out.push(`-A ${rule.chain} ${line(portalRuleArgs(rule))}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/**
 * What `kproxy rules --proxy-mode userspace` prints: comments (listener table, jumps, notes) and the
 * restore input.
 *
 * @param plan the plan
 * @returns text
 * @example process.stdout.write(renderUserspaceRules(planUserspace(state, options)))
 */
export function renderUserspaceRules(plan: UserspacePlan): string {
  const out: string[] = ['# kproxy userspace mode: every connection is relayed by kproxy itself.', '#'];
  out.push('# Listeners (relay sockets on 0.0.0.0; PROXY PORT 0 = any free port, chosen at run time):');
  const rows: string[][] = [['SERVICE PORT', 'ROLE', 'PROXY PORT', 'PORTALS', 'ENDPOINTS']];
  for (const sp of plan.servicePorts) {
    for (const l of sp.listeners) {
      const portals = l.portals
        .map((p) => {
          const at =
            p.ip === undefined
              ? `*:${p.port}`
              : p.family === 'IPv6'
                ? `[${p.ip}]:${p.port}`
                : `${p.ip}:${p.port}`;
          return `${at} (${p.kind}${p.family === 'IPv6' ? ', direct listen only' : ''})`;
        })
        .join(', ');
      rows.push([
        sp.key,
        l.role,
        String(l.proxyPort),
        portals,
        l.endpoints.join(',') || '(none: connections are closed)',
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows)
    out.push(
      `#   ${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}`,
    );
  if (plan.skipped.length > 0) {
    out.push('#', '# Not served:');
    for (const s of plan.skipped) out.push(`#   ${s.key}: ${s.reason}`);
  }
  out.push(
    '#',
    '# Without root or iptables, kproxy installs no rules: a portal whose address is local (127.0.0.0/8,',
    '# ::1, or an address of this host) is served by listening on it directly; other portals are reported.',
  );
  if (plan.hostIP === undefined) {
    out.push(
      '# No IPv4 node IP is known: from-host portals REDIRECT (UDP replies to host clients may then fail).',
    );
  }
  out.push('#', '# Jumps ensured once each (checked, then inserted/appended), outside this restore input:');
  for (const jump of PORTAL_JUMPS) {
    const verb = jump.position === 'first' ? `-I ${jump.from} 1` : `-A ${jump.from}`;
    out.push(`#   -t ${jump.table} ${verb} ${line(jumpArgs(jump))}`);
  }
  out.push('#', '# iptables-restore --noflush input:');
  return `${out.join('\n')}\n${renderPortalRestore(plan)}`;
}
