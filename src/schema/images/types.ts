import { builder } from '../../builder.ts';
import { IMAGE_LIMITS } from '../../services/images/index.ts';

export const ImageType = builder.enumType('ImageType', {
  description: 'What an image is for on a profile.',
  values: {
    PROFILE: { description: 'A profile photo.' },
    GALLERY: { description: 'A photo in the profile gallery.' },
    COVER: { description: 'A cover (banner) image.' },
  } as const,
});

export const Image = builder.prismaObject('Image', {
  description: `An image a user uploaded: re-encoded, scaled to at most ${IMAGE_LIMITS.maxDimension} px on the long side, and stripped of all metadata (EXIF, GPS).`,
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The image’s UUID.' }),
    url: t.string({
      description:
        'Where clients load the image from (CDN, bucket or this server’s /files). Never changes for an image.',
      select: { key: true },
      resolve: (image, _args, ctx) => ctx.deps.storage.publicUrl(image.key),
    }),
    type: t.expose('type', { type: ImageType, description: 'What the image is for.' }),
    isPrimary: t.boolean({
      description: 'The owner’s primary image (their avatar); a user has at most one.',
      select: { isPrimary: true },
      resolve: (image) => image.isPrimary === true,
    }),
    caption: t.exposeString('caption', { description: `Up to ${IMAGE_LIMITS.caption} characters; may be empty.` }),
    width: t.exposeInt('width', { nullable: true, description: 'Width in pixels of the stored image.' }),
    height: t.exposeInt('height', {
      nullable: true,
      description: 'Height in pixels of the stored image (of one frame, for animations).',
    }),
    sizeBytes: t.exposeInt('sizeBytes', { description: 'Size in bytes of the stored image.' }),
    mimeType: t.exposeString('mimeType', { description: 'image/jpeg, image/png, image/gif or image/webp.' }),
    uploadedAt: t.expose('uploadedAt', { type: 'DateTime', description: 'When it was uploaded.' }),
    owner: t.relation('user', { description: 'Who uploaded it.' }),
  }),
});

// The three fields read the `images` relation inside the parent's query (one join, with the
// relationJoins preview), so a list of users costs the same statements however long it is.
const newestFirst = [{ uploadedAt: 'desc' as const }, { id: 'desc' as const }];
const primaryOnly = { where: { isPrimary: true }, take: 1 };

builder.prismaObjectFields('User', (t) => ({
  images: t.relation('images', {
    description: `The user’s images, newest first (at most ${IMAGE_LIMITS.perUser}).`,
    args: { type: t.arg({ type: ImageType, description: 'Only images of this type; all when omitted.' }) },
    query: (args) => ({ where: args.type ? { type: args.type } : {}, orderBy: newestFirst }),
  }),
  primaryImage: t.field({
    type: Image,
    nullable: true,
    description: 'The primary image, if the user chose one.',
    select: (_args, _ctx, nestedSelection) => ({ images: nestedSelection(primaryOnly) }),
    resolve: (user) => user.images[0] ?? null,
  }),
  avatarUrl: t.string({
    nullable: true,
    description: 'URL of the primary profile image, if any.',
    select: { images: { ...primaryOnly, select: { key: true } } },
    resolve: (user, _args, ctx) => (user.images[0] ? ctx.deps.storage.publicUrl(user.images[0].key) : null),
  }),
}));
