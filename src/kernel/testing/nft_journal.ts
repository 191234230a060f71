/**
 * An undo journal for the strict nft fake: a transaction changes the ruleset in place through it and,
 * when nft would refuse it (or it is only a check), rolls every change back in reverse order. Cheaper
 * than copying the ruleset for each transaction, which at 10 000 services cost the fake 0.4 s a sync.
 *
 * @module
 */

/** Records how to undo each change made through it. */
export class Journal {
  #undo: (() => void)[] = [];

  /** `map.set(key, value)`, undone by restoring the old value or deleting the key. */
  set<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key);
    const old = map.get(key);
    map.set(key, value);
    this.#undo.push(had ? () => map.set(key, old as V) : () => map.delete(key));
  }

  /** `map.delete(key)`, undone by setting it again. */
  delete<K, V>(map: Map<K, V>, key: K): void {
    if (!map.has(key)) return;
    const old = map.get(key) as V;
    map.delete(key);
    this.#undo.push(() => map.set(key, old));
  }

  /** `object[field] = value`, undone by restoring the old value. */
  assign<T extends object, F extends keyof T>(object: T, field: F, value: T[F]): void {
    const old = object[field];
    object[field] = value;
    this.#undo.push(() => {
      object[field] = old;
    });
  }

  /** `array.push(item)`, undone by popping it. */
  push<T>(array: T[], item: T): void {
    array.push(item);
    this.#undo.push(() => array.pop());
  }

  /** Undoes every change, newest first, and forgets them. */
  rollback(): void {
    for (const undo of this.#undo.reverse()) undo();
    this.#undo = [];
  }

  /** Keeps every change and forgets how to undo them. */
  commit(): void {
    this.#undo = [];
  }
}
