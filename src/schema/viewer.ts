import type { Context } from '../context.ts';

/** Matches no row: stands in for the viewer's id in per-viewer selections when anonymous. */
export const NOBODY = '00000000-0000-0000-0000-000000000000';

/** The viewer's id for use inside a Prisma `where`, or NOBODY. */
export const viewerIdOf = (ctx: Context) => ctx.viewer?.id ?? NOBODY;
