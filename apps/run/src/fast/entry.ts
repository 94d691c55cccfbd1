import { readFileSync } from 'node:fs';
import { type CommandLoader, type CommandTable, runFast as run } from '@skiff/cli/fast';
import { SKIFF } from '../base-command.js';

/** skiff's commands on the fast path (see @skiff/cli/fast); the rest goes through oclif. */

type Loader = CommandLoader;
const load = (p: Promise<unknown>) => p as ReturnType<CommandLoader>;

const pull: Loader = () => load(import('../commands/image/pull.js'));
const push: Loader = () => load(import('../commands/image/push.js'));
const list: Loader = () => load(import('../commands/image/list.js'));
const inspect: Loader = () => load(import('../commands/image/inspect.js'));
const tag: Loader = () => load(import('../commands/image/tag.js'));
const untag: Loader = () => load(import('../commands/image/untag.js'));
const rm: Loader = () => load(import('../commands/image/rm.js'));
const save: Loader = () => load(import('../commands/image/save.js'));
const loadCmd: Loader = () => load(import('../commands/image/load.js'));
const importCmd: Loader = () => load(import('../commands/image/import.js'));
const history: Loader = () => load(import('../commands/image/history.js'));

/** Command ids (and their aliases) → the module defining the command and its canonical id. */
const COMMANDS: CommandTable = {
  'image:pull': ['image:pull', pull],
  pull: ['image:pull', pull],
  'image:push': ['image:push', push],
  push: ['image:push', push],
  'image:list': ['image:list', list],
  'image:ls': ['image:list', list],
  images: ['image:list', list],
  'image:inspect': ['image:inspect', inspect],
  inspect: ['image:inspect', inspect],
  'image:tag': ['image:tag', tag],
  tag: ['image:tag', tag],
  'image:untag': ['image:untag', untag],
  untag: ['image:untag', untag],
  'image:rm': ['image:rm', rm],
  rmi: ['image:rm', rm],
  'image:prune': ['image:prune', () => load(import('../commands/image/prune.js'))],
  'image:save': ['image:save', save],
  save: ['image:save', save],
  'image:load': ['image:load', loadCmd],
  load: ['image:load', loadCmd],
  'image:import': ['image:import', importCmd],
  import: ['image:import', importCmd],
  'image:history': ['image:history', history],
  history: ['image:history', history],
  'system:df': ['system:df', () => load(import('../commands/system/df.js'))],
  'system:check': ['system:check', () => load(import('../commands/system/check.js'))],
  // volumes
  'volume:create': ['volume:create', () => load(import('../commands/volume/create.js'))],
  'volume:list': ['volume:list', () => load(import('../commands/volume/list.js'))],
  'volume:ls': ['volume:list', () => load(import('../commands/volume/list.js'))],
  'volume:inspect': ['volume:inspect', () => load(import('../commands/volume/inspect.js'))],
  'volume:rm': ['volume:rm', () => load(import('../commands/volume/rm.js'))],
  'volume:remove': ['volume:rm', () => load(import('../commands/volume/rm.js'))],
  'volume:prune': ['volume:prune', () => load(import('../commands/volume/prune.js'))],
  // containers
  'container:exec': ['container:exec', () => load(import('../commands/container/exec.js'))],
  exec: ['container:exec', () => load(import('../commands/container/exec.js'))],
  'container:run': ['container:run', () => load(import('../commands/container/run.js'))],
  run: ['container:run', () => load(import('../commands/container/run.js'))],
  'container:create': ['container:create', () => load(import('../commands/container/create.js'))],
  create: ['container:create', () => load(import('../commands/container/create.js'))],
  'container:start': ['container:start', () => load(import('../commands/container/start.js'))],
  start: ['container:start', () => load(import('../commands/container/start.js'))],
  'container:stop': ['container:stop', () => load(import('../commands/container/stop.js'))],
  stop: ['container:stop', () => load(import('../commands/container/stop.js'))],
  'container:kill': ['container:kill', () => load(import('../commands/container/kill.js'))],
  kill: ['container:kill', () => load(import('../commands/container/kill.js'))],
  'container:rm': ['container:rm', () => load(import('../commands/container/rm.js'))],
  rm: ['container:rm', () => load(import('../commands/container/rm.js'))],
  'container:remove': ['container:rm', () => load(import('../commands/container/rm.js'))],
  'container:wait': ['container:wait', () => load(import('../commands/container/wait.js'))],
  wait: ['container:wait', () => load(import('../commands/container/wait.js'))],
  'container:logs': ['container:logs', () => load(import('../commands/container/logs.js'))],
  logs: ['container:logs', () => load(import('../commands/container/logs.js'))],
  'container:restart': ['container:restart', () => load(import('../commands/container/restart.js'))],
  restart: ['container:restart', () => load(import('../commands/container/restart.js'))],
  'container:rename': ['container:rename', () => load(import('../commands/container/rename.js'))],
  rename: ['container:rename', () => load(import('../commands/container/rename.js'))],
  'container:list': ['container:list', () => load(import('../commands/container/list.js'))],
  ps: ['container:list', () => load(import('../commands/container/list.js'))],
  'container:ls': ['container:list', () => load(import('../commands/container/list.js'))],
  'container:ps': ['container:list', () => load(import('../commands/container/list.js'))],
  'container:inspect': ['container:inspect', () => load(import('../commands/container/inspect.js'))],
  'container:prune': ['container:prune', () => load(import('../commands/container/prune.js'))],
  'container:cleanup': ['container:cleanup', () => load(import('../commands/container/cleanup.js'))],
  'container:attach': ['container:attach', () => load(import('../commands/container/attach.js'))],
  attach: ['container:attach', () => load(import('../commands/container/attach.js'))],
  'container:cp': ['container:cp', () => load(import('../commands/container/cp.js'))],
  cp: ['container:cp', () => load(import('../commands/container/cp.js'))],
  'container:diff': ['container:diff', () => load(import('../commands/container/diff.js'))],
  diff: ['container:diff', () => load(import('../commands/container/diff.js'))],
  'container:top': ['container:top', () => load(import('../commands/container/top.js'))],
  top: ['container:top', () => load(import('../commands/container/top.js'))],
  'container:port': ['container:port', () => load(import('../commands/container/port.js'))],
  port: ['container:port', () => load(import('../commands/container/port.js'))],
  'container:pause': ['container:pause', () => load(import('../commands/container/pause.js'))],
  pause: ['container:pause', () => load(import('../commands/container/pause.js'))],
  'container:unpause': ['container:unpause', () => load(import('../commands/container/unpause.js'))],
  unpause: ['container:unpause', () => load(import('../commands/container/unpause.js'))],
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function runFast(argv: string[]): Promise<boolean> {
  return run(SKIFF, COMMANDS, argv, version);
}
