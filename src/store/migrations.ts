import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Numbered plain-SQL migrations, one folder per dialect, forward-only (`migrations/<dialect>/NNNN_name.sql`). */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export function readMigrations(dialect: 'sqlite' | 'postgres'): Migration[] {
  const dir = path.join(ROOT, dialect);
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ id: Number(f.slice(0, 4)), name: f, sql: readFileSync(path.join(dir, f), 'utf8') }));
}
