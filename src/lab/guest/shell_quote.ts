/**
 * POSIX shell quoting for the one place where the guest harness hands a command to a shell: the script
 * the guest's init runs.
 *
 * @module
 */

/**
 * Quotes one word for a POSIX shell: single quotes, with each embedded `'` closed, escaped and reopened.
 *
 * @param word any string without NUL bytes (a NUL cannot be passed as an argument at all)
 * @returns the quoted word
 * @throws {TypeError} when the word contains a NUL byte
 * @example shellQuote("it's") // => `'it'\''s'`
 */
export function shellQuote(word: string): string {
  if (word.includes('\0'))
    throw new TypeError(`Cannot quote a word with a NUL byte: ${JSON.stringify(word)}`);
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
