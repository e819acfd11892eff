import Database from 'better-sqlite3';
import { createServer } from 'node:http';
import path from 'node:path';
import pg from 'pg';

/**
 * The physical floor for "accept durably" on this machine: node:http, parse the JSON body, one INSERT,
 * answer. Same durability as Flowgate's store (SQLite WAL with synchronous=FULL; PostgreSQL defaults).
 * Usage: floor-server.ts sqlite|postgres PORT (FLOOR_DATA_DIR / DATABASE_URL + FLOOR_SCHEMA).
 */
const [kind, port] = process.argv.slice(2);

async function inserter(): Promise<(body: string) => Promise<void> | void> {
  if (kind === 'sqlite') {
    const db = new Database(path.join(process.env.FLOOR_DATA_DIR!, 'floor.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE IF NOT EXISTS accepted (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL)');
    const ins = db.prepare('INSERT INTO accepted (body, created_at) VALUES (?, ?)');
    return (body) => void ins.run(body, Date.now());
  }
  const schema = process.env.FLOOR_SCHEMA!;
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: `-c search_path=${schema}` });
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query('CREATE TABLE IF NOT EXISTS accepted (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)');
  return async (body) => void (await pool.query('INSERT INTO accepted (body, created_at) VALUES ($1, $2)', [body, Date.now()]));
}

const insert = await inserter();
createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      await insert(JSON.stringify(parsed));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
    } catch {
      res.writeHead(400).end();
    }
  });
}).listen(Number(port), '127.0.0.1');
