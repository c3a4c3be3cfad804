// GraphQL multipart requests (file uploads) on /graphql, parsed by graphql-upload-minimal
// before Apollo sees the request. Apollo's CSRF prevention still applies to them: clients
// send `apollo-require-preflight: true`.
//
// An upload holds a connection, a temporary file and, while it is processed, a lot of memory,
// for as long as the client likes to take. So before its body is read an upload must get a
// slot (a few per user, a few more per instance), and it must keep arriving: a body that stalls
// for the idle timeout, or is not complete by the total timeout, is answered 408 and its
// connection destroyed, which ends the resolver's read, removes its file and frees its slot.
import type { Request, RequestHandler, Response } from 'express';
import { processRequest, Upload } from 'graphql-upload-minimal';

export interface UploadLimits {
  /** Largest file; the parser cuts one byte past it so that the reader can tell "too large" from "exactly the limit". */
  maxFileBytes: number;
  /** Largest `operations` or `map` field. */
  maxFieldBytes: number;
  /** Uploads in progress on this instance; more are answered 503. */
  maxConcurrent: number;
  /** Uploads in progress per user (per address without a valid token); more are answered 429. */
  maxConcurrentPerUser: number;
  /** A body that sends nothing for this long is answered 408 and closed. */
  idleTimeoutMs: number;
  /** A body not complete after this long is answered 408 and closed. */
  timeoutMs: number;
  /**
   * Whom an upload counts against, decided from the request's headers before its body is read:
   * the user of a valid token, else the client's address. (An invalid token is refused later,
   * by the operation pipeline, as for any request.)
   */
  uploaderOf(req: Request): Promise<string>;
}

/** How long a refused client is told to wait: a slot frees as soon as any upload ends. */
const RETRY_AFTER_SECONDS = 2;

type ReplyCode = 'BAD_USER_INPUT' | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMITED';

/** Answers in GraphQL's error shape, as the JSON body errors are answered. */
function reply(
  res: Response,
  status: number,
  code: ReplyCode,
  message: string,
  extra: { field?: string; retryAfterSeconds?: number } = {},
): void {
  res.status(status).json({ errors: [{ message, extensions: { code, ...extra } }] });
}

/** Refuses a request whose body is not to be read: the answer, then the connection closes. */
export function refuse(
  res: Response,
  status: number,
  code: ReplyCode,
  message: string,
  retryAfterSeconds?: number,
): void {
  res.set('Connection', 'close');
  if (retryAfterSeconds !== undefined) res.set('Retry-After', String(retryAfterSeconds));
  reply(res, status, code, message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
}

/** The Upload instances graphql-upload-minimal placed into the operation. */
function uploadsIn(value: unknown, found: Upload[] = [], depth = 0): Upload[] {
  if (value instanceof Upload) found.push(value);
  else if (value && typeof value === 'object' && depth < 32) {
    for (const child of Object.values(value)) uploadsIn(child, found, depth + 1);
  }
  return found;
}

/** Uploads in progress on this instance, in all and per uploader. */
export class UploadSlots {
  private total = 0;
  private readonly perUploader = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerUploader: number,
  ) {}

  get inProgress(): number {
    return this.total;
  }

  /** A release function (safe to call twice), or which cap refused the upload. */
  take(uploader: string): (() => void) | 'instance' | 'uploader' {
    const mine = this.perUploader.get(uploader) ?? 0;
    if (mine >= this.maxPerUploader) return 'uploader';
    if (this.total >= this.max) return 'instance';
    this.total += 1;
    this.perUploader.set(uploader, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perUploader.get(uploader) ?? 1) - 1;
      if (left > 0) this.perUploader.set(uploader, left);
      else this.perUploader.delete(uploader);
    };
  }
}

/**
 * Answers 408 (when nothing was answered yet) and destroys the request once the body stops
 * arriving for idleTimeoutMs or is not complete after timeoutMs. That ends the parser and the
 * resolver's read of the file, which removes the file. Call after the body is
 * piped to its reader: listening to 'data' earlier would let the first chunks flow past it.
 */
function watchBody(req: Request, res: Response, limits: UploadLimits): void {
  const expire = (message: string) => {
    stop();
    req.log.info({ bytesRead: req.socket.bytesRead }, 'upload timed out');
    // Destroying the request, not just its socket: once a response is over, Node no longer
    // aborts the request when the socket closes, and the parser would wait for the file forever.
    // This aborts it (the parser fails the file's stream) and destroys the socket.
    const cut = () => void req.destroy();
    if (res.headersSent) return cut();
    res.set('Connection', 'close');
    res.once('finish', cut);
    reply(res, 408, 'BAD_USER_INPUT', message, { field: 'file' });
    // A client that does not read the answer does not get to keep the socket either.
    setTimeout(cut, 1000).unref();
  };
  const idle = setTimeout(
    () => expire(`The upload sent nothing for ${limits.idleTimeoutMs / 1000} s`),
    limits.idleTimeoutMs,
  );
  const total = setTimeout(() => expire(`The upload took longer than ${limits.timeoutMs / 1000} s`), limits.timeoutMs);
  const touch = () => idle.refresh();
  const stop = () => {
    clearTimeout(idle);
    clearTimeout(total);
    req.off('data', touch);
  };
  req.on('data', touch);
  // Once the body is complete (or the connection gone), what is left is ours to do, not the client's.
  req.once('end', stop);
  req.once('close', stop);
}

/**
 * Parses multipart requests (one file at most) and passes the operation on with Upload
 * promises in its variables; other requests pass through untouched.
 *
 * - A declared Content-Length that cannot fit a file of maxFileBytes is refused before
 *   anything is read (413, PAYLOAD_TOO_LARGE), and the connection is closed.
 * - An upload past the per-uploader cap is refused before its body is read with 429
 *   RATE_LIMITED (retryAfterSeconds), past the instance cap with 503 RATE_LIMITED; the
 *   connection is closed. Its slot is held until its response is over.
 * - A body that stalls or takes too long: 408, BAD_USER_INPUT (field `file`), connection destroyed.
 * - Malformed multipart bodies and more than one file are BAD_USER_INPUT (400); an oversized
 *   `operations` or `map` field is PAYLOAD_TOO_LARGE (413).
 * - The file size limit itself is enforced by the resolver reading the file (the parser only
 *   truncates). Files that no resolver reads (the operation failed validation, CSRF or auth)
 *   are drained once the response is sent, so the request never stalls.
 */
export function graphqlUploads(limits: UploadLimits): RequestHandler {
  // Two fields, one file, multipart boundaries and part headers.
  const maxRequestBytes = limits.maxFileBytes + 2 * limits.maxFieldBytes + 64 * 1024;
  const slots = new UploadSlots(limits.maxConcurrent, limits.maxConcurrentPerUser);
  return async (req, res, next) => {
    if (!req.is('multipart/form-data')) return next();
    const declared = Number(req.headers['content-length']);
    if (declared > maxRequestBytes) {
      return refuse(
        res,
        413,
        'PAYLOAD_TOO_LARGE',
        `The request is larger than the ${limits.maxFileBytes}-byte upload limit allows`,
      );
    }
    const release = slots.take(await limits.uploaderOf(req));
    if (release === 'uploader') {
      return refuse(
        res,
        429,
        'RATE_LIMITED',
        `At most ${limits.maxConcurrentPerUser} uploads at once; retry when one has finished`,
        RETRY_AFTER_SECONDS,
      );
    }
    if (release === 'instance') {
      return refuse(
        res,
        503,
        'RATE_LIMITED',
        'This instance is receiving as many uploads as it can; retry shortly',
        RETRY_AFTER_SECONDS,
      );
    }
    res.once('close', release);

    const parsed = processRequest(req, res, {
      maxFiles: 1,
      maxFileSize: limits.maxFileBytes + 1,
      maxFieldSize: limits.maxFieldBytes,
    });
    // processRequest has piped the body to its parser by now (synchronously).
    watchBody(req, res, limits);
    parsed.then(
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
          return reply(res, 400, 'BAD_USER_INPUT', 'Send one file per request', { field: 'file' });
        if (error.status === 413) return reply(res, 413, 'PAYLOAD_TOO_LARGE', message);
        // Everything else the parser refuses (bad JSON, misordered or missing fields, a broken
        // body) is the client's mistake.
        reply(res, 400, 'BAD_USER_INPUT', `Malformed multipart request: ${message}`);
      },
    );
  };
}
