/**
 * Renders a {@link UserspacePlan}: the `iptables-restore --noflush` input that programs the portal chains
 * (`ip6tables-restore` input for an IPv6 plan: the same chains, in the ip6tables tables), and (for `kproxy
 * rules`) the same preceded by comments: the listener table and the jumps from the built-in chains that
 * the applier ensures separately (they must not be duplicated by a re-apply).
 *
 * Proxy ports chosen at run time (no `--proxy-port-range`; the plan says port 0) are printed as
 * `PROXY_PORT_1`, `PROXY_PORT_2`, ... in plan order: stable for a given state, readable in the listener
 * table, and rejected by iptables-restore (not a number, not a service name), so that the printed plan is
 * never mistaken for something that can be fed to the kernel as it is. The applier always plans with the
 * ports it has bound, so its input never holds a placeholder.
 *
 * @module
 */
import { anyAddress, hostPort, type PortalRule, type UserspacePlan } from './plan.ts';
import {
  GUARD_LISTENING_ARGS,
  jumpArgs,
  PORTAL_CHAINS,
  PORTAL_JUMPS,
  PORTAL_TABLES,
  type PortalTable,
} from './portal_chains.ts';

/** Placeholders of run-time proxy ports, by listener id. */
export type RuntimePortNames = ReadonlyMap<string, string>;

const NO_NAMES: RuntimePortNames = new Map();

/**
 * The placeholder of every listener whose proxy port is chosen at run time: `PROXY_PORT_<n>`, counting
 * such listeners in plan order from 1.
 *
 * @param plan the plan
 * @returns the placeholders by listener id (empty when every port is known)
 * @example runtimePortNames(plan).get('default/web:http/TCP|internal') // 'PROXY_PORT_1'
 */
export function runtimePortNames(plan: UserspacePlan): RuntimePortNames {
  const names = new Map<string, string>();
  for (const sp of plan.servicePorts) {
    for (const l of sp.listeners) if (l.proxyPort === 0) names.set(l.id, `PROXY_PORT_${names.size + 1}`);
  }
  return names;
}

/**
 * The arguments of a portal rule after `-A CHAIN`, in the order iptables-save prints them.
 *
 * @param rule the rule
 * @param names placeholders for proxy ports chosen at run time (port 0), see {@link runtimePortNames}
 * @returns the argument list (the comment is one unquoted element)
 * @example portalRuleArgs(rule).join(' ')
 */
export function portalRuleArgs(rule: PortalRule, names: RuntimePortNames = NO_NAMES): string[] {
  // A service port is never 0, so 0 always stands for a proxy port not chosen yet.
  const port = (n: number): string => (n === 0 ? (names.get(rule.listenerId) ?? 'PROXY_PORT') : String(n));
  const args = ['-m', 'comment', '--comment', rule.comment, '-p', rule.protocol, '-m', rule.protocol];
  args.push('--dport', port(rule.dport));
  if (rule.destination !== undefined) args.push('-d', rule.destination);
  if (rule.dstLocal) args.push('-m', 'addrtype', '--dst-type', 'LOCAL');
  if (rule.newOnly) args.push('-m', 'conntrack', '--ctstate', 'NEW');
  const target = rule.target;
  switch (target.kind) {
    case 'REDIRECT':
      args.push('-j', 'REDIRECT', '--to-ports', port(target.toPort));
      break;
    case 'DNAT':
      args.push('-j', 'DNAT', '--to-destination', hostPort(target.toIP, port(target.toPort)));
      break;
    case 'ACCEPT':
      args.push('-j', 'ACCEPT');
      break;
    case 'DROP':
      args.push('-j', 'DROP');
      break;
    default: {
      const never: never = target;
      throw new Error(`Unknown portal target: ${JSON.stringify(never)}`);
    }
  }
  return args;
}

/** Joins arguments into a restore line, quoting those with spaces (comments are already character-safe). */
function line(args: readonly string[]): string {
  return args
    .map((a) => (/^[A-Za-z0-9._/:,=+[\]-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '_')}"`))
    .join(' ');
}

/**
 * The `iptables-restore --noflush` input of one table: declares (and so flushes) every chain the mode owns
 * there, then appends the plan's rules of that table. Only those chains are touched.
 *
 * @param plan the plan
 * @param table nat or filter
 * @returns the restore input of that table
 * @example await ipt.restore('nat', renderPortalTable(plan, 'nat'), { noflush: true })
 */
export function renderPortalTable(plan: UserspacePlan, table: PortalTable): string {
  const names = runtimePortNames(plan);
  const out = [`*${table}`];
  for (const chain of PORTAL_CHAINS[table]) out.push(`:${chain} - [0:0]`);
  let guarded = false;
  for (const rule of plan.rules) {
    if (rule.table !== table) continue;
    if (rule.chain === 'KUBE-PORTALS-GUARD' && !guarded) {
      out.push(`-A KUBE-PORTALS-GUARD ${line(GUARD_LISTENING_ARGS)}`);
      guarded = true;
    }
    out.push(`-A ${rule.chain} ${line(portalRuleArgs(rule, names))}`);
  }
  out.push('COMMIT');
  return `${out.join('\n')}\n`;
}

/**
 * The `iptables-restore --noflush` input for a plan: {@link renderPortalTable} of every table, in order.
 *
 * @param plan the plan
 * @returns the restore input
 * @example process.stdout.write(renderPortalRestore(plan))
 */
export function renderPortalRestore(plan: UserspacePlan): string {
  return PORTAL_TABLES.map((table) => renderPortalTable(plan, table)).join('');
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
  const off = plan.portals === 'off';
  const v6 = plan.family === 'IPv6';
  const iptables = v6 ? 'ip6tables' : 'iptables';
  // The IPv4 text is as it was before plans had a family (::1 included).
  const local = v6 ? '::1' : '127.0.0.0/8, ::1';
  const names = runtimePortNames(plan);
  if (off) {
    out.push(
      '# Listeners (--userspace-portals off: a relay socket bound to each portal address that is local):',
    );
  } else {
    out.push(`# Listeners (relay sockets on ${anyAddress(plan.family)}, one per proxy port):`);
    if (names.size > 0) {
      out.push(
        '# PROXY_PORT_<n> is a free port chosen when kproxy starts (no --proxy-port-range): a placeholder',
        `# that ${iptables}-restore rejects, so the input below is for reading only.`,
      );
    }
  }
  const rows: string[][] = [['SERVICE PORT', 'ROLE', 'PROXY PORT', 'PORTALS', 'ENDPOINTS']];
  for (const sp of plan.servicePorts) {
    for (const l of sp.listeners) {
      const portals = l.portals
        .map((p) => `${p.ip === undefined ? `*:${p.port}` : hostPort(p.ip, p.port)} (${p.kind})`)
        .join(', ');
      rows.push([
        sp.key,
        l.role,
        off ? '-' : (names.get(l.id) ?? String(l.proxyPort)),
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
  if (off) {
    out.push(
      '#',
      `# --userspace-portals off: kproxy installs no ${iptables} rules. A portal whose address is local`,
      `# (${local}, or an address of this host) is served by listening on it directly (a node port`,
      '# on every address, or on those in --nodeport-addresses); other portals are reported as not reachable.',
    );
    return `${out.join('\n')}\n`;
  }
  out.push(
    '#',
    plan.portals === 'on'
      ? `# --userspace-portals on: the rules are installed (a sync fails without root and ${iptables}).`
      : `# --userspace-portals auto: without root or ${iptables}, kproxy installs no rules: a portal whose address`,
  );
  if (plan.portals !== 'on') {
    out.push(
      `# is local (${local}, or an address of this host) is served by listening on it directly;`,
      '# other portals are reported.',
    );
  }
  if (plan.hostIP === undefined) {
    out.push(
      `# No ${plan.family} node IP is known: from-host portals REDIRECT (UDP replies to host clients may then fail).`,
    );
  }
  out.push('#', '# Jumps ensured once each (checked, then inserted/appended), outside this restore input:');
  for (const jump of PORTAL_JUMPS) {
    const verb = jump.position === 'first' ? `-I ${jump.from} 1` : `-A ${jump.from}`;
    out.push(`#   -t ${jump.table} ${verb} ${line(jumpArgs(jump))}`);
  }
  out.push('#', `# ${iptables}-restore --noflush input:`);
  return `${out.join('\n')}\n${renderPortalRestore(plan)}`;
}
