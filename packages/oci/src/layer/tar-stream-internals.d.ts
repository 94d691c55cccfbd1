// tar-stream's header codec, which layer/tar-reader.ts wraps (the package types only its index).
declare module 'tar-stream/headers.js' {
  const headers: {
    decode(buf: Buffer, encoding: string, allowUnknownFormat: boolean): Record<string, unknown> | null;
    decodeLongPath(buf: Buffer, encoding: string): string;
    decodePax(buf: Buffer): Record<string, string>;
  };
  export default headers;
}
