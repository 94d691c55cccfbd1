import { once } from 'node:events';
import { createInterface } from 'node:readline/promises';

/**
 * Ask a yes/no question on the terminal (podman's `[y/N]` prompts): true only for an answer of
 * y or yes; the end of input is no.
 */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
  try {
    const answer = await Promise.race([rl.question(question), once(rl, 'close').then(() => '')]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
