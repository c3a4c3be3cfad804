// Versions the container files pin: the Dockerfile builds and runs on one pinned Node 22 LTS
// image (Node 20 is past its end of life) while the code keeps supporting Node 20.19+, and the
// compose file names MinIO releases rather than `latest`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.ts';

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('pinned images', () => {
  it('builds and runs on a pinned node:22 bookworm-slim image, every stage the same', () => {
    const dockerfile = read('Dockerfile');
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(image).toMatch(/^node:22\.\d+\.\d+-bookworm-slim$/);
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(['${NODE_IMAGE}', 'deps', '${NODE_IMAGE}']);
    expect(read('README.md')).toContain(`(\`${image}\`, the \`NODE_IMAGE\` build argument)`);
  });

  it('keeps the code on Node 20.19+', () => {
    expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe('>=20.19');
  });

  it('runs MinIO and its client at named releases', () => {
    const images = [...read('docker-compose.yml').matchAll(/^\s+image:\s*(\S+)$/gm)].map((m) => m[1]!);
    const minio = images.filter((i) => i.startsWith('minio/'));
    expect(minio.map((i) => i.split(':')[0])).toEqual(['minio/minio', 'minio/mc']);
    for (const image of minio) expect(image).toMatch(/:RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/);
  });
});
