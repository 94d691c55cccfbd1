import type { Agent as AgentType, Dispatcher } from 'undici';
import * as api from 'undici/lib/api/index.js';
// undici's index also loads fetch, WebSocket, EventSource, caches and mocks: ~25 ms at every CLI
// start. The client needs only the Agent and the request API, wired here as undici's index
// wires them (Object.assign of the api onto Dispatcher.prototype).
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';

Object.assign(DispatcherImpl.prototype, api);

export const Agent = AgentImpl as unknown as typeof AgentType;
export type Agent = AgentType;
export type { Dispatcher };

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher };

/** undici's `request(url, options)`, over an explicit dispatcher. */
export function request(url: URL | string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher, ...rest } = options;
  return dispatcher.request({
    ...rest,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: rest.method ?? 'GET',
  });
}
