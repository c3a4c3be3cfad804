// Shared shell for the scripts: one clear line on a known failure, exit code 1.
import { ConfigError } from '../src/config.ts';
import { DomainError } from '../src/lib/errors.ts';

export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DomainError) {
      console.error(error.message);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  }
}
