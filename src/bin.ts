/**
 * The `kproxy` executable: only starts {@link main}.
 *
 * @module
 */
import { main } from './cli/main.ts';

process.exitCode = await main(process.argv);
