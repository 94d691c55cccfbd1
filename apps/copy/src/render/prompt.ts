import { SkiffError } from '@skiff/oci/errors';

/**
 * Terminal input for `ferry login`: a visible prompt for the username, a prompt without echo for
 * the password, and the whole of stdin for --password-stdin.
 */

export interface PromptStreams {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

function defaultStreams(): PromptStreams {
  return { input: process.stdin, output: process.stdout };
}

function requireTty(streams: PromptStreams, what: string): void {
  if (!streams.input.isTTY) {
    throw new SkiffError('INVALID_ARGUMENT', `cannot prompt for the ${what}: stdin is not a terminal`, {
      hint: 'pass --username and --password, or --password-stdin',
    });
  }
}

/** Read one line from a TTY; with `echo: false` the typed characters are not shown. */
export async function promptLine(
  question: string,
  options: { echo: boolean; streams?: PromptStreams },
): Promise<string> {
  const streams = options.streams ?? defaultStreams();
  requireTty(streams, question.replace(/:\s*$/, '').toLowerCase());
  const { input, output } = streams;
  output.write(question);
  const wasRaw = input.isRaw;
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            cleanup();
            output.write('\n');
            resolve(line);
            return;
          }
          if (ch === '\u0003') {
            cleanup();
            output.write('\n');
            reject(new SkiffError('ABORTED', 'login aborted'));
            return;
          }
          if (ch === '\u0004' && line === '') {
            cleanup();
            output.write('\n');
            resolve(line);
            return;
          }
          if (ch === '\u007f' || ch === '\b') {
            if (line.length > 0) {
              line = line.slice(0, -1);
              if (options.echo) output.write('\b \b');
            }
            continue;
          }
          line += ch;
          if (options.echo) output.write(ch);
        }
      };
      const cleanup = () => input.off('data', onData);
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(wasRaw);
    input.pause();
  }
}

/** All of stdin, without the trailing newline (podman's --password-stdin). */
export async function readStdin(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
