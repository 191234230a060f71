/**
 * Graceful termination of real servers (upstream's GracefulTerminationManager): a real server that is no
 * longer wanted keeps its connections but gets weight 0, so the scheduler sends it nothing new; it is
 * deleted once it has no active or inactive connections. UDP and SCTP real servers are deleted at once
 * (with `expire_nodest_conn=1` their flows move on their next packet).
 *
 * @module
 */
import {
  hostPort,
  type IpvsCommand,
  type IpvsServiceId,
  type ListedVirtualServer,
  virtualServerKey,
} from '../../kernel/ipvs.ts';

/** A real server being drained. */
export interface DrainingServer {
  readonly service: IpvsServiceId;
  readonly server: { readonly address: string; readonly port: number };
}

/** `TCP/198.18.0.10:80/198.18.1.2:8080`: identifies a real server of a virtual server. */
export function realServerKey(service: IpvsServiceId, server: { address: string; port: number }): string {
  return `${virtualServerKey(service)}/${hostPort(server.address, server.port)}`;
}

/** Whether deleting a real server of this protocol must wait for its connections (TCP only). */
export function needsGracefulTermination(protocol: IpvsServiceId['protocol']): boolean {
  return protocol === 'TCP';
}

/** The list of draining real servers; decides when each may go. */
export class GracefulTermination {
  readonly #draining = new Map<string, DrainingServer>();

  /** Keys of the draining real servers, sorted. */
  keys(): string[] {
    return [...this.#draining.keys()].sort();
  }

  /** True when the real server is draining. */
  has(key: string): boolean {
    return this.#draining.has(key);
  }

  /** Starts (or keeps) draining a real server. */
  add(entry: DrainingServer): void {
    this.#draining.set(realServerKey(entry.service, entry.server), entry);
  }

  /** Stops tracking a real server (it is wanted again, or gone with its virtual server). */
  delete(key: string): void {
    this.#draining.delete(key);
  }

  /**
   * The deletions that are due now, given the kernel's table: every draining real server without
   * connections. Servers that are no longer in the table are forgotten.
   *
   * @param listed the kernel's table
   * @returns delete commands (the caller applies them and then calls {@link GracefulTermination.delete})
   */
  due(listed: readonly ListedVirtualServer[]): { key: string; command: IpvsCommand }[] {
    const servers = new Map<string, { active: number; inactive: number }>();
    for (const vs of listed) {
      for (const rs of vs.realServers) {
        servers.set(realServerKey(vs, rs), {
          active: rs.activeConnections,
          inactive: rs.inactiveConnections,
        });
      }
    }
    const out: { key: string; command: IpvsCommand }[] = [];
    for (const [key, entry] of [...this.#draining].sort(([a], [b]) => a.localeCompare(b))) {
      const counters = servers.get(key);
      if (counters === undefined) {
        this.#draining.delete(key);
        continue;
      }
      if (needsGracefulTermination(entry.service.protocol) && counters.active + counters.inactive > 0)
        continue;
      out.push({
        key,
        command: {
          op: 'delete-server',
          service: entry.service,
          server: { ...entry.server, protocol: entry.service.protocol },
        },
      });
    }
    return out;
  }
}
