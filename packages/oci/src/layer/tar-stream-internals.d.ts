// tar-stream's PAX header codec, which layer/apply.ts wraps (the package types only its index).
declare module 'tar-stream/headers.js' {
  const headers: { decodePax: (buf: Buffer) => Record<string, string> };
  export default headers;
}
