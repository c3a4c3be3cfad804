// A new avatar: uploadImage as a GraphQL multipart request
// (https://github.com/jaydenseric/graphql-multipart-request-spec). The file travels as a form
// part and is `null` in the variables; `map` says where it goes. Apollo's CSRF protection
// refuses multipart requests without the `apollo-require-preflight: true` header (HTTP 400),
// which a browser can't add to a cross-site form post.
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { print } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { ApiError, readOptions, Session } from './client.ts';
import { MyAvatarDocument, UploadAvatarDocument } from './generated/graphql.ts';
import type { UploadAvatarMutation, UploadAvatarMutationVariables } from './generated/graphql.ts';

const USAGE = `Usage: npx tsx examples/upload-avatar.ts [--file PATH] [--caption TEXT] [options]
  --file PATH             a JPEG, PNG, GIF or WebP image, at most 10 MB (default: a tiny built-in PNG)
  --caption TEXT          up to 255 characters
  --url URL               GraphQL endpoint (PINIT_URL; default http://localhost:4000/graphql)
  --username NAME         (PINIT_USERNAME; default the demo account ada.novak0)
  --password PASSWORD     (PINIT_PASSWORD; default the demo password)`;

// 8×8 pixels of PinIt pink, so the example runs without an image at hand.
const BUILT_IN_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAMAAADz0U65AAAAA1BMVEXdHJLaXTSMAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAADElEQVQImWNgoA4AAABIAAF7pRHIAAAAAElFTkSuQmCC',
  'base64',
);
const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

const opts = readOptions(USAGE, { file: { type: 'string' }, caption: { type: 'string' } });
const path = typeof opts.values.file === 'string' ? opts.values.file : undefined;
const bytes = path ? await readFile(path) : BUILT_IN_PNG;
const name = path ? basename(path) : 'pinit-pink.png';
const caption = typeof opts.values.caption === 'string' ? opts.values.caption : undefined;

const session = await Session.login(opts, (line) => console.log(line));

const variables: UploadAvatarMutationVariables = { file: null, caption };
const form = new FormData();
form.append('operations', JSON.stringify({ query: print(UploadAvatarDocument), variables }));
form.append('map', JSON.stringify({ 0: ['variables.file'] }));
// The server judges the type by the bytes; the part's type is only a hint.
form.append(
  '0',
  new Blob([new Uint8Array(bytes)], { type: TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream' }),
  name,
);

const res = await fetch(opts.url, {
  method: 'POST',
  headers: {
    authorization: `Bearer ${session.accessToken}`,
    // Without it: HTTP 400, "This operation has been blocked as a potential Cross-Site Request Forgery".
    'apollo-require-preflight': 'true',
  },
  body: form,
});
const body = (await res.json()) as { data?: UploadAvatarMutation | null; errors?: GraphQLFormattedError[] };
if (body.errors?.length || !body.data) {
  // PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, BAD_USER_INPUT (corrupt image), CONFLICT (50 images), …
  console.error(`upload failed: ${new ApiError(res.status, body.errors ?? []).message}`);
  process.exit(1);
}
const image = body.data.uploadImage;
console.log(`uploaded ${name} (${bytes.length} bytes) as image ${image.id}`);
console.log(
  `  stored: ${image.width}×${image.height} ${image.mimeType}, ${image.sizeBytes} bytes, primary: ${image.isPrimary}`,
);
console.log(`  url: ${image.url}`);

const { me } = await session.request(MyAvatarDocument, {});
console.log(`avatarUrl of ${me?.username}: ${me?.avatarUrl}`);

if (me?.avatarUrl) {
  const file = await fetch(me.avatarUrl);
  console.log(
    `GET avatarUrl: ${file.status} ${file.headers.get('content-type')} ${(await file.arrayBuffer()).byteLength} bytes`,
  );
}
