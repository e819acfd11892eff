import multipart from '@fastify/multipart';
import { createRequire } from 'node:module';
import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { verifyLink } from '../../files/links.ts';
import { fileView, type FileView } from '../../files/views.ts';
import { newFileKey } from '../../ids.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses } from '../schemas.ts';

/**
 * The type the client declared, unless it declared none or the generic octet-stream (curl -F does
 * for any extension it does not know): then the file name's extension decides, when it is a known one.
 */
export function contentTypeOf(filename: string | undefined, declared: string | undefined): string {
  if (declared && declared !== 'application/octet-stream') return declared;
  // The type table is a few MB in memory: loaded on the first upload that needs it, not at start.
  mimeLookup ??= (createRequire(import.meta.url)('mime-types') as typeof import('mime-types')).lookup;
  return (filename && mimeLookup(filename)) || 'application/octet-stream';
}

let mimeLookup: typeof import('mime-types').lookup | undefined;

/** Uploads (Refly's `files/upload`) and signed downloads of output files. */
export const fileRoutes = (deps: AppDeps) => async (app: App) => {
  // Registered here, not on the app: its hooks (an onRequest that listens for the socket closing, an
  // onResponse that cleans saved files) then run for the upload route only, not on every webhook call.
  await app.register(multipart, { throwFileSizeLimit: true });
  const now = deps.now ?? Date.now;
  const { uploadMaxFiles: maxFiles, uploadMaxFileBytes: maxBytes } = deps.config;

  app.post(
    '/v1/openapi/files/upload',
    {
      config: { scope: 'run' },
      schema: {
        tags: ['files'],
        summary: 'Upload files (multipart field `files`), then pass their fileKeys as resource variables',
        description: `Up to ${maxFiles} files of up to ${maxBytes} bytes each (FLOWGATE_UPLOAD_MAX_FILES, FLOWGATE_UPLOAD_MAX_FILE_BYTES). Streamed to storage; unreferenced uploads are deleted after FLOWGATE_UPLOAD_TTL_MS (24 h).`,
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new FlowgateError(failure('UNSUPPORTED_MEDIA_TYPE', 'Send multipart/form-data with the files in the field "files"'));
      const stored: { blob: { storagePath: string }; view: FileView }[] = [];
      const t = now();
      try {
        for await (const part of req.parts({ limits: { fileSize: maxBytes, files: maxFiles, fields: 20, parts: maxFiles + 20 } })) {
          if (part.type !== 'file') continue;
          if (part.fieldname !== 'files') {
            part.file.resume();
            continue;
          }
          const blob = await deps.storage.put(part.file);
          const rec = {
            fileKey: newFileKey(),
            workspaceId: req.apiKey.workspaceId,
            name: part.filename || 'upload',
            type: contentTypeOf(part.filename, part.mimetype),
            size: blob.size,
            sha256: blob.sha256,
            storagePath: blob.storagePath,
            createdAt: t,
            expiresAt: t + deps.config.uploadTtlMs,
          };
          stored.push({ blob, view: fileView(rec) });
        }
        if (stored.length === 0) throw new FlowgateError(failure('INVALID_REQUEST_BODY', 'No file in the multipart field "files"'));
        // Records only once every file of the request is stored: a rejected request leaves nothing.
        for (const s of stored) {
          await deps.store.files.createFile({ ...s.view, workspaceId: req.apiKey.workspaceId, storagePath: s.blob.storagePath, createdAt: t, expiresAt: t + deps.config.uploadTtlMs });
        }
      } catch (e) {
        await Promise.all(stored.map((s) => deps.storage.remove(s.blob.storagePath)));
        if (e instanceof FlowgateError) throw e;
        const code = (e as { code?: string }).code;
        if (code === 'FST_REQ_FILE_TOO_LARGE') throw new FlowgateError(failure('PAYLOAD_TOO_LARGE', `A file is larger than the limit of ${maxBytes} bytes`));
        if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') throw new FlowgateError(failure('PAYLOAD_TOO_LARGE', `More than ${maxFiles} files in one request`));
        // The multipart parser's errors carry no errno code (no boundary, truncated, malformed part
        // header): the request is at fault. Errors with one (disk full, store down) are ours.
        if (code === undefined || code.startsWith('FST_')) {
          throw new FlowgateError(failure('INVALID_REQUEST_BODY', `Malformed multipart body: ${(e as Error).message}`));
        }
        throw e;
      }
      return sendOk(req, reply, {
        files: stored.map(({ view: v }) => ({ fileKey: v.fileKey, fileName: v.name, name: v.name, type: v.type, size: v.size, sha256: v.sha256 })),
      });
    },
  );

  app.get(
    '/v1/files/:fileKey/download',
    {
      schema: {
        tags: ['files'],
        summary: 'Download an output file by its signed link (no API key; the link expires)',
        params: Type.Object({ fileKey: Type.String({ maxLength: 64 }) }),
        querystring: Type.Object({ expires: Type.Integer(), sig: Type.String({ maxLength: 128 }) }),
      },
    },
    async (req, reply) => {
      const { fileKey } = req.params;
      const verdict = verifyLink(fileKey, req.query.expires, req.query.sig, deps.fileLinkSecret, now());
      if (verdict !== 'ok') throw new FlowgateError(failure('INVALID_SIGNATURE', verdict === 'expired' ? 'This download link has expired; fetch the output again for a fresh one' : 'Invalid download link'));
      const f = await deps.store.files.getFile(fileKey);
      if (!f) throw new FlowgateError(failure('NOT_FOUND', 'File not found'));
      reply.header('content-type', f.type);
      reply.header('content-length', String(f.size));
      reply.header('content-disposition', contentDisposition(f.name));
      return reply.send(deps.storage.open(f.storagePath));
    },
  );
};

/**
 * RFC 6266: an ASCII `filename` fallback for old clients and the exact name as RFC 8187/5987
 * `filename*` (UTF-8, percent-encoded), so any name — `文件😀.txt` — is a valid header.
 */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
