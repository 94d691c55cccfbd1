/**
 * The main job on an embedded default: build a busybox image as an OCI layout, start a registry
 * on 127.0.0.1, `ferry copy` the image there and back, and `ferry inspect` it. Every step runs the
 * built `ferry` binary as a user would, and prints the command and its output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeImage } from '../test/support/images.js';
import { startRegistry } from '../test/support/registry.js';

const FERRY = join(import.meta.dirname, '..', 'apps', 'copy', 'bin', 'run.js');

function ferry(...args: string[]): string {
  console.log(`\n$ ferry ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [FERRY, ...args], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`ferry ${args[0]} exited with ${r.status}`);
  return r.stdout;
}

const work = await mkdtemp(join(tmpdir(), 'skiff-demo-'));
const registry = await startRegistry();
try {
  console.log(`Building a busybox image as an OCI layout in ${work}/layout`);
  const image = await makeImage(join(work, 'layout'), { name: 'latest', config: { Cmd: ['sh'] } });
  console.log(`  ${image.transportRef} ${image.digest}`);
  console.log(`Registry listening on ${registry.host}`);

  const remote = `docker://${registry.host}/demo/busybox:latest`;
  ferry('copy', '--dest-tls-verify=false', image.transportRef, remote);
  ferry('list-tags', '--tls-verify=false', `docker://${registry.host}/demo/busybox`);
  const inspected = JSON.parse(ferry('inspect', '--tls-verify=false', remote)) as { Digest: string };
  ferry('copy', '--src-tls-verify=false', remote, `oci:${join(work, 'back')}:latest`);
  const back = JSON.parse(ferry('inspect', `oci:${join(work, 'back')}:latest`)) as { Digest: string };

  const same = inspected.Digest === image.digest && back.Digest === image.digest;
  console.log(
    `\nDigest built ${image.digest}\n  in registry ${inspected.Digest}\n  copied back ${back.Digest}`,
  );
  console.log(same ? 'Round trip kept the digest.' : 'Digest changed on the way!');
  if (!same) process.exitCode = 1;
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
