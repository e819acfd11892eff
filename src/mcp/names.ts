import { createHash } from 'node:crypto';

/** `{title}__{canvasId}` in the characters tool names allow; stable as long as neither changes. */
export function toolName(title: string, canvasId: string): string {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  const name = `${slug(title) || 'workflow'}__${slug(canvasId)}`;
  if (name.length <= 64) return name;
  // Long titles: keep a readable head and make it unique with a hash of the id.
  return `${name.slice(0, 53)}_${createHash('sha256').update(canvasId).digest('hex').slice(0, 10)}`;
}
