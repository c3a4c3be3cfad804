// Profile images: checked and re-encoded before anything is stored, stored before the row is
// written, and the row written in a transaction that keeps at most one primary image per user.
// No GraphQL here.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileTypeFromBuffer, fileTypeFromFile } from 'file-type';
import sharp from 'sharp';
import type { Metadata } from 'sharp';
import type { AppDeps } from '../../context.ts';
import { badInput, conflict, DomainError, forbidden, isUniqueViolation, notFound } from '../../lib/errors.ts';
import type { Image, ImageType, Prisma } from '../../generated/prisma/client.ts';
import { sweepTempDir, withTempFile } from '../../lib/temp-files.ts';
import { isUuid, text } from '../../lib/validation.ts';
import { queueStorageDeletions, removeStoredObjects } from './deletions.ts';
import { lockLiveAccount } from '../accounts/index.ts';

type Tx = Prisma.TransactionClient;
/** A query from Pothos (select/include) to spread into the final read. */
type Query = object;

export const IMAGE_LIMITS = {
  /** Largest accepted upload: 10 MB (MiB). One byte more is PAYLOAD_TOO_LARGE. */
  maxBytes: 10 * 1024 * 1024,
  /**
   * Largest accepted pixel count (width × height, times frames for animations), judged from
   * the header before anything is decoded: a small file can claim a huge canvas. More is
   * PAYLOAD_TOO_LARGE.
   */
  maxPixels: 40_000_000,
  /** Longest side of a stored image; larger images are scaled down to fit. */
  maxDimension: 1920,
  caption: 255,
  /** Images one user may keep; `User.images` is a plain list, so it must stay short. */
  perUser: 50,
  /** Attempts at a primary-image change that lost a race on the unique index. */
  primaryAttempts: 5,
} as const;

/** What the stored file is, per input format: MIME type, key extension, re-encoding. */
const FORMATS = {
  jpeg: { mime: 'image/jpeg', ext: 'jpg' },
  png: { mime: 'image/png', ext: 'png' },
  gif: { mime: 'image/gif', ext: 'gif' },
  webp: { mime: 'image/webp', ext: 'webp' },
} as const;
type Format = keyof typeof FORMATS;

/** Magic-byte verdicts of file-type that we accept. APNG is a PNG; sharp reads its first frame. */
const SNIFFED: Record<string, Format> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/apng': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** One file of a multipart request, as graphql-upload-minimal hands it over. */
export interface UploadedFile {
  filename: string;
  mimetype: string;
  createReadStream(): Readable;
}

export interface UploadImageInput {
  /** Resolves when the file part starts arriving; rejects when the request has none. */
  file: Promise<UploadedFile>;
  type: ImageType;
  isPrimary?: boolean | null;
  caption?: string | null;
}

const tooLarge = () =>
  new DomainError(
    'PAYLOAD_TOO_LARGE',
    `The file is larger than ${IMAGE_LIMITS.maxBytes} bytes (${IMAGE_LIMITS.maxBytes / (1024 * 1024)} MB)`,
    { field: 'file' },
  );
const undecodable = () => badInput('file', 'The image could not be decoded (truncated or corrupt)');

const interrupted = () => badInput('file', 'The upload was interrupted before the file was complete');

/**
 * Streams the file to `target` as it arrives: no copy of it is held in memory, so a stalled or
 * slow upload costs a file on disk, not its size in RAM. Past maxBytes it stops writing, lets
 * the rest drain, and fails with PAYLOAD_TOO_LARGE. Resolves with the size once the file is
 * completely written.
 */
function receiveInto(stream: Readable, target: string, maxBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(target, { flags: 'wx' });
    let size = 0;
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      stream.off('data', count);
      stream.unpipe(out);
      out.destroy();
      // Let whatever is left flow into nothing: the parser passes on at most one byte past the
      // limit and discards the rest of the file itself, so the request is read to its end.
      stream.resume();
      reject(error);
    };
    const count = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) fail(tooLarge());
    };
    // Registered before pipe(), so each chunk is counted before it is written.
    stream.on('data', count);
    stream.once('end', () => {
      // The parser marks a file it cut at its own limit; never take a cut file for a whole one.
      if ((stream as Readable & { truncated?: boolean }).truncated) fail(tooLarge());
    });
    // The client went away, the multipart body broke off mid-file, or the upload timed out.
    stream.once('error', () => fail(interrupted()));
    // A disk that refuses the write is our fault, not the client's: the error goes on unchanged.
    out.on('error', (error) => fail(error));
    out.once('finish', () => {
      if (!failed) resolve(size);
    });
    stream.pipe(out);
  });
}

/** Writes the file to `target`; the contract's error for a missing, interrupted or oversized file. */
async function receive(file: Promise<UploadedFile>, target: string): Promise<void> {
  let stream: Readable;
  try {
    stream = (await file).createReadStream();
  } catch (error) {
    // graphql-upload-minimal: 413 for a file cut at its limit, 400/499 for a missing file or a
    // request that broke off.
    if ((error as { status?: number }).status === 413) throw tooLarge();
    throw badInput('file', 'No file was received for input.file');
  }
  await receiveInto(stream, target, IMAGE_LIMITS.maxBytes);
}

/** Where uploads are written while they arrive and are processed: DATA_DIR/tmp. */
export const uploadTempDir = (dataDir: string) => path.join(dataDir, 'tmp');

/**
 * Creates the upload directory and removes what a crashed process left in it. Only files older
 * than two hours: instances sharing DATA_DIR may be receiving younger ones (an upload lasts at
 * most UPLOAD_TIMEOUT_SECONDS, itself at most an hour, plus its processing).
 */
export const sweepUploadTemp = (dataDir: string) => sweepTempDir(uploadTempDir(dataDir), 2 * 3600 * 1000);

export interface ProcessedImage {
  data: Buffer;
  format: Format;
  mimeType: string;
  ext: string;
  width: number;
  height: number;
}

/**
 * Checks the bytes (in memory, or in a file: sharp reads it from disk) and re-encodes them: the type is judged by magic bytes (the client's name
 * and content type are ignored), the pixel count from the header before decoding, then the
 * image is auto-oriented, scaled to fit maxDimension, and re-encoded without any metadata
 * (EXIF with GPS, XMP, IPTC, ICC: sharp keeps none unless asked). Animations stay animated.
 */
export async function processImage(input: Buffer | string): Promise<ProcessedImage> {
  const size = typeof input === 'string' ? (await stat(input)).size : input.length;
  if (size === 0) throw badInput('file', 'The file is empty');
  const sniffed = typeof input === 'string' ? await fileTypeFromFile(input) : await fileTypeFromBuffer(input);
  const format = sniffed ? SNIFFED[sniffed.mime] : undefined;
  if (!format) {
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Only JPEG, PNG, GIF and WebP images are accepted', {
      field: 'file',
    });
  }

  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw undecodable();
  }
  // A polyglot whose magic bytes say one format while the decoder reads another is refused.
  if (meta.format !== format) throw undecodable();
  const frames = meta.pages ?? 1;
  if (meta.width * meta.height * frames > IMAGE_LIMITS.maxPixels) {
    throw new DomainError(
      'PAYLOAD_TOO_LARGE',
      `The image has more than ${IMAGE_LIMITS.maxPixels} pixels (${meta.width}×${meta.height}${frames > 1 ? ` × ${frames} frames` : ''})`,
      { field: 'file' },
    );
  }

  const animated = frames > 1 && (format === 'gif' || format === 'webp');
  // failOn 'warning' (sharp's default, explicit here) refuses truncated and corrupt data;
  // limitInputPixels repeats the check above inside libvips.
  let pipeline = sharp(input, { animated, failOn: 'warning', limitInputPixels: IMAGE_LIMITS.maxPixels })
    .autoOrient()
    .resize(IMAGE_LIMITS.maxDimension, IMAGE_LIMITS.maxDimension, { fit: 'inside', withoutEnlargement: true });
  switch (format) {
    case 'jpeg':
      pipeline = pipeline.jpeg({ quality: 82, mozjpeg: true });
      break;
    case 'png':
      pipeline = pipeline.png({ compressionLevel: 9, adaptiveFiltering: true });
      break;
    case 'webp':
      pipeline = pipeline.webp({ quality: 82 });
      break;
    case 'gif':
      pipeline = pipeline.gif({ effort: 7 });
      break;
  }
  try {
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return {
      data,
      format,
      mimeType: FORMATS[format].mime,
      ext: FORMATS[format].ext,
      width: info.width,
      // Animated output stacks the frames; a frame is what people see.
      height: info.pageHeight ?? info.height,
    };
  } catch {
    throw undecodable();
  }
}

/** `users/{userId}/images/{type}_{timestamp}-{random}.{ext}`: the random part keeps two uploads in one millisecond apart. */
export function imageKey(userId: string, type: ImageType, ext: string, now = new Date()): string {
  return `users/${userId}/images/${type.toLowerCase()}_${now.getTime()}-${randomBytes(4).toString('hex')}.${ext}`;
}

/**
 * Serializes image writes of one user (the user row, FOR NO KEY UPDATE, which still lets rows
 * referencing the user be inserted), and refuses a deleted account (waiting for a deletion in
 * progress). The unique index on (user_id, is_primary) is what guarantees one primary; the lock
 * turns would-be violations into orderly waits.
 */
const lockUser = (tx: Tx, userId: string) => lockLiveAccount(tx, userId, true);

/** Runs a primary-image transaction again when it lost a race on the unique index anyway. */
async function retryOnPrimaryRace<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (attempt >= IMAGE_LIMITS.primaryAttempts)
        throw conflict('Another change of the primary image got in the way; try again', { field: 'isPrimary' });
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * Stores a new image: check and process first, then write the object, then the row (and the
 * primary flag) in one transaction. A failed write leaves no row; a failed row removes the
 * object; a file that never arrives whole stores nothing.
 */
export async function uploadImage(deps: AppDeps, userId: string, input: UploadImageInput, query: Query = {}) {
  // Refusing before the file is read is fine: the HTTP layer drains files no one read.
  const caption =
    input.caption === null || input.caption === undefined
      ? ''
      : text('caption', input.caption, { max: IMAGE_LIMITS.caption });
  if ((await deps.prisma.image.count({ where: { userId } })) >= IMAGE_LIMITS.perUser) throw tooMany();
  // Image processing is the most expensive thing a client can ask for.
  await deps.rateLimiter.consume('uploadsPerUser', userId);

  // The upload goes to a temporary file, removed however this ends; only the (small) re-encoded
  // output is held in memory.
  const image = await withTempFile(uploadTempDir(deps.config.dataDir), async (file) => {
    await receive(input.file, file);
    return processImage(file);
  });
  const key = imageKey(userId, input.type, image.ext);
  try {
    await deps.storage.put(key, image.data, { contentType: image.mimeType });
  } catch (error) {
    // put() promises to leave nothing behind; deleting again costs little (keys are never reused).
    await deps.storage.delete(key).catch(() => {});
    throw new Error(`Storing image ${key} failed`, { cause: error });
  }

  try {
    return await retryOnPrimaryRace(() =>
      deps.prisma.$transaction(async (tx) => {
        await lockUser(tx, userId);
        // Counted again under the lock: concurrent uploads cannot overshoot the limit.
        if ((await tx.image.count({ where: { userId } })) >= IMAGE_LIMITS.perUser) throw tooMany();
        if (input.isPrimary)
          await tx.image.updateMany({ where: { userId, isPrimary: true }, data: { isPrimary: null } });
        return tx.image.create({
          ...query,
          data: {
            userId,
            key,
            type: input.type,
            isPrimary: input.isPrimary ? true : null,
            caption,
            width: image.width,
            height: image.height,
            sizeBytes: image.data.length,
            mimeType: image.mimeType,
          },
        });
      }),
    );
  } catch (error) {
    try {
      // A commit whose answer was lost may still have written the row: its object stays.
      const written = await deps.prisma.image.count({ where: { key } }).catch(() => 0);
      if (!written) await deps.storage.delete(key);
    } catch (cleanupError) {
      deps.logger.error(
        { err: cleanupError, key },
        'image row not written and its object could not be removed: orphaned object',
      );
    }
    throw error;
  }
}

const tooMany = () => conflict(`You can keep at most ${IMAGE_LIMITS.perUser} images; delete one first`);

/** The viewer's own image: NOT_FOUND when there is none with that id, FORBIDDEN when it is someone else's. */
async function ownImage(db: Tx | AppDeps['prisma'], viewerId: string, id: string): Promise<Image> {
  const image = isUuid(id) ? await db.image.findUnique({ where: { id } }) : null;
  if (!image) throw notFound('Image');
  if (image.userId !== viewerId) throw forbidden('Only the owner can change this image');
  return image;
}

/** Makes the image the viewer's only primary one (the previous primary, if any, stops being it). */
export async function setPrimaryImage(deps: AppDeps, viewerId: string, id: string, query: Query = {}) {
  await ownImage(deps.prisma, viewerId, id);
  await retryOnPrimaryRace(() =>
    deps.prisma.$transaction(async (tx) => {
      await lockUser(tx, viewerId);
      await tx.image.updateMany({
        where: { userId: viewerId, isPrimary: true, NOT: { id } },
        data: { isPrimary: null },
      });
      const updated = await tx.image.updateMany({ where: { id, userId: viewerId }, data: { isPrimary: true } });
      // Deleted since the check above.
      if (updated.count === 0) throw notFound('Image');
    }),
  );
  return deps.prisma.image.findUniqueOrThrow({ ...query, where: { id } });
}

export async function updateImageCaption(
  deps: AppDeps,
  viewerId: string,
  id: string,
  rawCaption: string,
  query: Query = {},
) {
  const caption = text('caption', rawCaption, { max: IMAGE_LIMITS.caption });
  await ownImage(deps.prisma, viewerId, id);
  const updated = await deps.prisma.image.updateMany({ where: { id, userId: viewerId }, data: { caption } });
  if (updated.count === 0) throw notFound('Image');
  return deps.prisma.image.findUniqueOrThrow({ ...query, where: { id } });
}

/**
 * Deletes the row and queues its object's removal in one transaction, then removes the object.
 * Once the row is gone the image is gone for everyone; an object the storage fails to delete
 * stays queued and is retried until it goes (./deletions.ts).
 */
export async function deleteImage(deps: AppDeps, viewerId: string, id: string): Promise<string> {
  const image = await ownImage(deps.prisma, viewerId, id);
  const removed = await deps.prisma.$transaction((tx) => removeImagesInTx(tx, { id, userId: viewerId }));
  if (!removed.length) throw notFound('Image');
  await removeStoredObjects(deps, removed);
  return image.id;
}

/** Deletes the images matching `where` and queues their objects' removal; their keys, for removeStoredObjects after the commit. */
export async function removeImagesInTx(tx: Tx, where: Prisma.ImageWhereInput): Promise<string[]> {
  const images = await tx.image.findMany({ where, select: { id: true, key: true } });
  if (!images.length) return [];
  await tx.image.deleteMany({ where: { id: { in: images.map((i) => i.id) } } });
  const keys = images.map((i) => i.key);
  await queueStorageDeletions(tx, keys);
  return keys;
}
