/** JSON as podman prints it: inspect uses a five-space indent, lists four. No HTML escaping (JS has none). */
export function inspectJson(value: unknown): string {
  return `${JSON.stringify(value, null, 5)}\n`;
}

export function listJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}
