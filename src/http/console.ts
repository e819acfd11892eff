import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from './app.ts';

/** Where `npm run build` puts the console (the same place whether the server runs from src/ or dist/). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));

/**
 * The console is a client of the public API like any other: the page carries no key and no data,
 * so a strict policy costs nothing. Styles set from scripts go through the CSSOM, which
 * `style-src 'self'` allows; only inline <style> and style="" attributes in markup would need more.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * Serves the built console at /ui: hashed assets cached for a year, the page itself never cached
 * (so a new build is picked up at once), and every path under /ui answers the page so deep links
 * and reloads land on the right screen. `GET /` leads there.
 */
export function consoleRoutes(dir = CONSOLE_DIR) {
  return async (app: App) => {
    for (const from of ['/', '/ui']) app.get(from, { schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui/', 302));

    const indexPath = `${dir}index.html`;
    if (!existsSync(indexPath)) {
      // A checkout that never ran `npm run build` (tests that import src/ directly, for instance).
      app.get('/ui/*', { schema: { hide: true } }, async (_req, reply) =>
        reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build` (npm start does it), then reload.\n'),
      );
      return;
    }
    const page = readFileSync(indexPath);
    const sendPage = async (_req: unknown, reply: import('fastify').FastifyReply) =>
      reply.headers({ ...securityHeaders, 'cache-control': 'no-cache' }).type('text/html; charset=utf-8').send(page);

    await app.register(fastifyStatic, {
      root: `${dir}assets`,
      prefix: '/ui/assets/',
      decorateReply: false,
      index: false,
      immutable: true,
      maxAge: '365d',
      setHeaders: (res) => {
        res.headers(securityHeaders);
      },
    });
    app.get('/ui/', { schema: { hide: true } }, sendPage);
    app.get('/ui/*', { schema: { hide: true } }, async (req, reply) => {
      // A missing asset is a 404, not the page: a stale tab must not parse HTML as JavaScript.
      if (req.url.startsWith('/ui/assets/')) return reply.callNotFound();
      return sendPage(req, reply);
    });
  };
}
