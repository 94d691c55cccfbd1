import { normalizeAuthKey } from '@skiff/oci/config/auth';

/** `host:5000/ns/` → the key auth.json uses (`host:5000/ns`), the host to ping and the namespace. */
export function registryKey(argument: string): { key: string; host: string; repository: string | undefined } {
  const key = normalizeAuthKey(argument);
  const slash = key.indexOf('/');
  return slash === -1
    ? { key, host: key, repository: undefined }
    : { key, host: key.slice(0, slash), repository: key.slice(slash + 1) };
}
