// GraphQL multipart requests (file uploads) on /graphql, parsed by graphql-upload-minimal
// before Apollo sees the request. Apollo's CSRF prevention still applies to them: clients
// send `apollo-require-preflight: true`.
import type { RequestHandler, Response } from 'express';
import { processRequest, Upload } from 'graphql-upload-minimal';

export interface UploadLimits {
  /** Largest file; the parser cuts one byte past it so that the reader can tell "too large" from "exactly the limit". */
  maxFileBytes: number;
  /** Largest `operations` or `map` field. */
  maxFieldBytes: number;
}

/** Answers in GraphQL's error shape, as the JSON body errors are answered. */
function reply(
  res: Response,
  status: number,
  code: 'BAD_USER_INPUT' | 'PAYLOAD_TOO_LARGE',
  message: string,
  field?: string,
): void {
  res.status(status).json({ errors: [{ message, extensions: field ? { code, field } : { code } }] });
}

/** The Upload instances graphql-upload-minimal placed into the operation. */
function uploadsIn(value: unknown, found: Upload[] = [], depth = 0): Upload[] {
  if (value instanceof Upload) found.push(value);
  else if (value && typeof value === 'object' && depth < 32) {
    for (const child of Object.values(value)) uploadsIn(child, found, depth + 1);
  }
  return found;
}

/**
 * Parses multipart requests (one file at most) and passes the operation on with Upload
 * promises in its variables; other requests pass through untouched.
 *
 * - A declared Content-Length that cannot fit a file of maxFileBytes is refused before
 *   anything is read (413, PAYLOAD_TOO_LARGE), and the connection is closed.
 * - Malformed multipart bodies and more than one file are BAD_USER_INPUT (400); an oversized
 *   `operations` or `map` field is PAYLOAD_TOO_LARGE (413).
 * - The file size limit itself is enforced by the resolver reading the file (the parser only
 *   truncates). Files that no resolver reads (the operation failed validation, CSRF or auth)
 *   are drained once the response is sent, so the request never stalls.
 */
export function graphqlUploads(limits: UploadLimits): RequestHandler {
  // Two fields, one file, multipart boundaries and part headers.
  const maxRequestBytes = limits.maxFileBytes + 2 * limits.maxFieldBytes + 64 * 1024;
  return (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    const declared = Number(req.headers['content-length']);
    if (declared > maxRequestBytes) {
      res.set('Connection', 'close');
      return reply(
        res,
        413,
        'PAYLOAD_TOO_LARGE',
        `The request is larger than the ${limits.maxFileBytes}-byte upload limit allows`,
      );
    }
    processRequest(req, res, {
      maxFiles: 1,
      maxFileSize: limits.maxFileBytes + 1,
      maxFieldSize: limits.maxFieldBytes,
    }).then(
      (operations) => {
        const uploads = uploadsIn(operations);
        res.once('close', () => {
          for (const upload of uploads) {
            upload.promise.then(
              (file) => {
                try {
                  file.createReadStream().resume();
                } catch {
                  // Read by a resolver already, or failed.
                }
              },
              () => {},
            );
          }
        });
        req.body = operations;
        next();
      },
      (error: { status?: number; message?: string }) => {
        if (res.headersSent || res.destroyed) return;
        const message = String(error.message ?? 'Malformed multipart request');
        if (/max file uploads exceeded/.test(message))
          return reply(res, 400, 'BAD_USER_INPUT', 'Send one file per request', 'file');
        if (error.status === 413) return reply(res, 413, 'PAYLOAD_TOO_LARGE', message);
        // Everything else the parser refuses (bad JSON, misordered or missing fields, a broken
        // body) is the client's mistake.
        reply(res, 400, 'BAD_USER_INPUT', `Malformed multipart request: ${message}`);
      },
    );
  };
}
