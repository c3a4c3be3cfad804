import { builder } from '../../builder.ts';
import * as images from '../../services/images/index.ts';
import { IMAGE_LIMITS } from '../../services/images/index.ts';
import { ImageType } from './types.ts';

const mebibytes = (bytes: number) => bytes / (1024 * 1024);
/** 10485760 as "10 485 760": digits in groups of three. */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ' ');

const UploadImageInput = builder.inputType('UploadImageInput', {
  description:
    'A new image. Send it as a GraphQL multipart request with the header `apollo-require-preflight: true`; one file per request.',
  fields: (t) => ({
    file: t.field({
      type: 'Upload',
      required: true,
      description: `A JPEG, PNG, GIF or WebP image (judged by its bytes), at most ${mebibytes(IMAGE_LIMITS.maxBytes)} MB (${grouped(IMAGE_LIMITS.maxBytes)} bytes) and ${IMAGE_LIMITS.maxPixels / 1e6} megapixels; larger is PAYLOAD_TOO_LARGE, other types UNSUPPORTED_MEDIA_TYPE.`,
    }),
    type: t.field({ type: ImageType, required: true, description: 'What the image is for.' }),
    isPrimary: t.boolean({
      description: 'Make it the primary image (the avatar), replacing the current one. Default false.',
    }),
    caption: t.string({ description: `Up to ${IMAGE_LIMITS.caption} characters.` }),
  }),
});

builder.mutationFields((t) => ({
  uploadImage: t.withAuth({ signedIn: true }).prismaField({
    type: 'Image',
    description:
      'Uploads an image of the signed-in user (multipart request). It is re-encoded, scaled down and stripped of metadata.',
    args: { input: t.arg({ type: UploadImageInput, required: true, description: 'The file and its details.' }) },
    resolve: (query, _root, { input }, ctx) => images.uploadImage(ctx.deps, ctx.viewer.id, input, query),
  }),
  setPrimaryImage: t.withAuth({ signedIn: true }).prismaField({
    type: 'Image',
    description: "Makes one of the signed-in user's images their primary image; the previous one stops being primary.",
    args: { id: t.arg.id({ required: true, description: 'The image’s UUID.' }) },
    resolve: (query, _root, args, ctx) => images.setPrimaryImage(ctx.deps, ctx.viewer.id, String(args.id), query),
  }),
  updateImageCaption: t.withAuth({ signedIn: true }).prismaField({
    type: 'Image',
    description: "Changes the caption of one of the signed-in user's images.",
    args: {
      id: t.arg.id({ required: true, description: 'The image’s UUID.' }),
      caption: t.arg.string({
        required: true,
        description: `Up to ${IMAGE_LIMITS.caption} characters; empty clears it.`,
      }),
    },
    resolve: (query, _root, args, ctx) =>
      images.updateImageCaption(ctx.deps, ctx.viewer.id, String(args.id), args.caption, query),
  }),
  deleteImage: t.withAuth({ signedIn: true }).id({
    description: "Deletes one of the signed-in user's images and its stored file; returns its id.",
    args: { id: t.arg.id({ required: true, description: 'The image’s UUID.' }) },
    resolve: (_root, args, ctx) => images.deleteImage(ctx.deps, ctx.viewer.id, String(args.id)),
  }),
}));
