// PUBLIC_URL's default, as documented: links to locally stored files use the address the
// server listens on, with 127.0.0.1 for the default HOST=0.0.0.0 (not localhost, which may
// resolve to ::1 first). An explicit PUBLIC_URL wins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../helpers/client.ts';
import { jpeg, uploadOk } from '../helpers/images.ts';
import { startTestServer } from '../helpers/server.ts';
import type { TestServer } from '../helpers/server.ts';

describe('PUBLIC_URL unset, HOST=0.0.0.0', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { HOST: '0.0.0.0' } });
  });
  afterAll(() => server?.close());

  it('links uploaded images at http://127.0.0.1:$PORT/files/…, and the link works', async () => {
    const port = new URL(server.url).port;
    const user = await createUser(server);
    const image = await uploadOk(server, { data: await jpeg(64, 48) }, { token: user.accessToken });
    expect(image.url.startsWith(`http://127.0.0.1:${port}/files/`)).toBe(true);
    const res = await fetch(image.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
  });
});

describe('PUBLIC_URL set', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { PUBLIC_URL: 'https://api.pinit.example/' } });
  });
  afterAll(() => server?.close());

  it('links uploaded images under it', async () => {
    const user = await createUser(server);
    const image = await uploadOk(server, { data: await jpeg(64, 48) }, { token: user.accessToken });
    expect(image.url).toMatch(/^https:\/\/api\.pinit\.example\/files\/users\//);
  });
});
