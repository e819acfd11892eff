import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

/** Reads workflow definitions from a `.json`/`.yaml`/`.yml` file or every such file in a folder (sorted, not recursive). */
export async function loadDefinitionsFrom(p: string): Promise<Array<{ file: string; definition: unknown }>> {
  const isDefinition = (f: string) => /\.(json|ya?ml)$/i.test(f);
  const files = (await stat(p)).isDirectory()
    ? (await readdir(p)).filter(isDefinition).sort().map((f) => path.join(p, f))
    : [p];
  const out: Array<{ file: string; definition: unknown }> = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    try {
      out.push({ file, definition: /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text) });
    } catch (e) {
      throw new Error(`${file}: cannot parse: ${(e as Error).message}`);
    }
  }
  return out;
}

/** The definition's own `canvasId`, else `c-` and the file name, so a reload updates the same workflow. */
export function canvasIdFor(file: string, definition: { canvasId?: string }): string {
  if (definition.canvasId) return definition.canvasId;
  const slug = path
    .basename(file)
    .replace(/\.(json|ya?ml)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return `c-${slug || 'workflow'}`;
}
