import { stringify } from 'yaml';

/**
 * `ferry sync --print-job N`: a Kubernetes Indexed Job running the same sync as N shards. Each
 * pod gets JOB_COMPLETION_INDEX (0..N-1) and runs `ferry sync … --shard $(JOB_COMPLETION_INDEX)/N`
 * (Kubernetes expands `$(VAR)` in args). A `--src yaml` file is mounted from a ConfigMap, and
 * registry credentials from an optional Secret holding auth.json.
 */

export interface JobOptions {
  /** Job name (and prefix of the ConfigMap/Secret names). */
  name: string;
  /** Container image that has ferry as its entry point. */
  image: string;
  shards: number;
  /** The sync arguments as given (without --print-job, --job-image, --job-name, --shard), source and destination included. */
  args: string[];
  /** For --src yaml: the SOURCE argument to replace by the mounted file, and the file's text. */
  config?: { argument: string; text: string };
}

const CONFIG_DIR = '/etc/ferry';
const CONFIG_KEY = 'sync.yaml';
const AUTH_DIR = '/etc/ferry/auth';

/** Remove the options that only shape the job (or are replaced in it) from sync's argv. */
export function jobArguments(argv: readonly string[]): string[] {
  const dropWithValue = new Set(['--print-job', '--job-image', '--job-name', '--shard', '--report']);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.split('=')[0]!;
    if (dropWithValue.has(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

export function kubernetesJob(options: JobOptions): string {
  const { name, shards } = options;
  const args = ['sync', ...options.args];
  const volumes: Record<string, unknown>[] = [
    { name: 'auth', secret: { secretName: `${name}-auth`, optional: true } },
  ];
  const mounts: Record<string, unknown>[] = [{ name: 'auth', mountPath: AUTH_DIR, readOnly: true }];
  const docs: Record<string, unknown>[] = [];
  if (options.config) {
    const i = args.indexOf(options.config.argument);
    if (i >= 0) args[i] = `${CONFIG_DIR}/${CONFIG_KEY}`;
    docs.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${name}-config` },
      data: { [CONFIG_KEY]: options.config.text },
    });
    volumes.push({ name: 'config', configMap: { name: `${name}-config` } });
    mounts.push({ name: 'config', mountPath: CONFIG_DIR, readOnly: true });
  }
  args.push('--shard', `$(JOB_COMPLETION_INDEX)/${shards}`);
  docs.push({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'ferry-sync' } },
    spec: {
      completionMode: 'Indexed',
      completions: shards,
      parallelism: shards,
      backoffLimit: shards * 2,
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'ferry-sync' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'ferry',
              image: options.image,
              args,
              env: [{ name: 'REGISTRY_AUTH_FILE', value: `${AUTH_DIR}/auth.json` }],
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  });
  return docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}
