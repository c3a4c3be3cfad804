import { DeleteObjectCommand, HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { IMMUTABLE_CACHE_CONTROL, UnsafeKeyError, adoptBody, assertSafeKey, joinUrl } from './common.ts';
import type { Storage } from './types.ts';

export interface S3StorageOptions {
  /** Bucket name; configuring one selects S3 in createStorage. */
  bucket: string;
  /** AWS region; `auto` for Cloudflare R2. */
  region: string;
  /** Endpoint of an S3-compatible service (R2, MinIO); omit for AWS. */
  endpoint?: string;
  /** Static credentials; without them the SDK's default provider chain is used. */
  accessKeyId?: string;
  /** Goes with accessKeyId. */
  secretAccessKey?: string;
  /** Base URL objects are publicly served from (CDN, R2 public domain). */
  publicUrl?: string;
  /** `https://endpoint/bucket/key` addressing instead of `https://bucket.endpoint/key` (MinIO, s3rver). */
  forcePathStyle?: boolean;
}

const PART_SIZE = 5 * 1024 * 1024;

/** Objects in an S3-compatible bucket, uploaded as a stream (a few 5 MB parts in memory at most, never the whole file). */
export function createS3Storage(opts: S3StorageOptions): Storage {
  const { bucket } = opts;
  const config: S3ClientConfig = {
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    credentials:
      opts.accessKeyId && opts.secretAccessKey
        ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey }
        : undefined,
  };
  // The socket timeout catches a hung service without capping how long a big upload may take.
  const client = new S3Client({ ...config, requestHandler: { connectionTimeout: 3000, socketTimeout: 30_000 } });
  const pingClient = new S3Client({
    ...config,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 2000, throwOnRequestTimeout: true },
  });
  const publicBase =
    opts.publicUrl ||
    (opts.endpoint
      ? `${opts.endpoint.replace(/\/+$/, '')}/${bucket}`
      : `https://${bucket}.s3.${opts.region}.amazonaws.com`);

  return {
    async put(key, body, { contentType, cacheControl = IMMUTABLE_CACHE_CONTROL }) {
      const discardBody = adoptBody(body);
      let sizeBytes = 0;
      let bodyError: unknown;
      async function* counted(source: Readable): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of source) {
            const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
            sizeBytes += bytes.length;
            yield bytes;
          }
        } catch (err) {
          bodyError = err;
          throw err;
        }
      }

      try {
        assertSafeKey(key);
        const upload = new Upload({
          client,
          params: {
            Bucket: bucket,
            Key: key,
            Body: Buffer.isBuffer(body) ? body : Readable.from(counted(body)),
            ContentType: contentType,
            CacheControl: cacheControl,
          },
          queueSize: 2,
          partSize: PART_SIZE,
          leavePartsOnError: false, // Upload aborts the multipart upload itself.
        });
        await upload.done();
        return { sizeBytes: Buffer.isBuffer(body) ? body.length : sizeBytes };
      } catch (err) {
        discardBody();
        // Best effort: a PUT may have landed although its response was lost. Keys are never reused
        // (objects are cached as immutable), so this cannot delete an older object worth keeping.
        if (!(err instanceof UnsafeKeyError)) {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
        }
        // When the body failed, that is the cause to report, even if aborting the upload failed too.
        throw bodyError ?? err;
      }
    },

    async delete(key) {
      assertSafeKey(key);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    publicUrl: (key) => joinUrl(publicBase, key),

    async ping() {
      await pingClient.send(new HeadBucketCommand({ Bucket: bucket }));
    },
  };
}
