import { initContextCache } from '@pothos/core';
import type { Context } from '../context.ts';

/** Matches no row: stands in for the viewer's id in per-viewer selections when anonymous. */
export const NOBODY = '00000000-0000-0000-0000-000000000000';

/** Whether the viewer is an admin (for fields that show admins more, rather than refuse others). */
export const isAdmin = (ctx: Context) => ctx.viewer?.role === 'ADMIN';

/** The viewer's id for use inside a Prisma `where`, or NOBODY. */
export const viewerIdOf = (ctx: Context) => ctx.viewer?.id ?? NOBODY;

/**
 * A subscription reuses one context for all its events; giving each event fresh Pothos caches
 * means no event is resolved from rows cached for an earlier one.
 */
export function withFreshCaches<T>(value: T, ctx: Context): T {
  Object.assign(ctx, initContextCache());
  return value;
}
