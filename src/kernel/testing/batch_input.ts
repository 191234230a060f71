/**
 * Batch input as `ipset restore` and `ip -batch -` read it, for the strict fakes: one command per line,
 * blank lines skipped, the first failing line stops the batch.
 *
 * @module
 */

/**
 * Runs each line of a batch as words; a failure is re-raised as `located` words it, with its line number.
 *
 * @param input the batch (standard input of the tool)
 * @param run runs one command; throws when the tool would refuse it
 * @param located the error to throw for a failure at a line (1-based)
 * @example runBatchLines('add S 1\n', (words) => run(words), (error, line) => error)
 */
export function runBatchLines(
  input: string,
  run: (words: string[]) => void,
  located: (error: unknown, line: number) => unknown,
): void {
  let n = 0;
  for (const line of input.split('\n')) {
    n++;
    if (line.trim() === '') continue;
    try {
      run(line.trim().split(/\s+/));
    } catch (error) {
      throw located(error, n);
    }
  }
}
