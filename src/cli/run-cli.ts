/**
 * Runs a command-line tool (`npm run migrate`, `npm run fold`): its exit code, or on failure one line on stderr
 * saying what failed (the database unreachable or missing, its data directory locked by a running server), exit
 * code 1, no stack trace.
 */
export async function runCli(name: string, main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`${name}: ${message.split('\n')[0]}`);
    code = 1;
  }
  process.exit(code);
}
