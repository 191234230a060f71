/**
 * What every tracer says when local-traffic detection (`--detect-local-mode` BridgeInterface or
 * InterfaceNamePrefix) needed the packet's input interface and the packet had none.
 *
 * @module
 */

/** The first step of such a trace: the packet was taken as not local. */
export const UNDECIDED_INTERFACE_NOTE =
  'local traffic is detected by input interface, and the packet has none (give --in-interface): taken as not local';
