// Type declarations for the undici internals http.ts imports (undici types only its index).
declare module 'undici/lib/dispatcher/agent.js' {
  const Agent: unknown;
  export default Agent;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  const Dispatcher: { prototype: object };
  export default Dispatcher;
}
declare module 'undici/lib/api/index.js' {
  export const request: unknown;
  export const stream: unknown;
  export const pipeline: unknown;
  export const upgrade: unknown;
  export const connect: unknown;
}
