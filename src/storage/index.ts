import { createDiskStorage, type DiskStorageOptions } from './disk.ts';
import { createS3Storage, type S3StorageOptions } from './s3.ts';
import type { Storage } from './types.ts';

export type { PutOptions, Storage } from './types.ts';
export { assertSafeKey, UnsafeKeyError, IMMUTABLE_CACHE_CONTROL } from './common.ts';
export { createDiskStorage, createFilesRouter, type DiskStorageOptions } from './disk.ts';
export { createS3Storage, type S3StorageOptions } from './s3.ts';

/** S3 when a bucket is configured, else the local directory served by createFilesRouter. */
export function createStorage(opts: { s3?: S3StorageOptions; disk: DiskStorageOptions }): Storage {
  return opts.s3?.bucket ? createS3Storage(opts.s3) : createDiskStorage(opts.disk);
}
