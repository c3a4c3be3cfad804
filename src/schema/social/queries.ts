import { builder } from '../../builder.ts';
import * as social from '../../services/social/index.ts';
import { FriendRequest } from './types.ts';

builder.queryFields((t) => ({
  friendRequests: t.withAuth({ signedIn: true }).field({
    type: [FriendRequest],
    description:
      "The viewer's pending requests: received (incoming: true), sent (false), or both (omitted); newest first.",
    args: { incoming: t.arg.boolean({ description: 'true: received; false: sent; omitted: both.' }) },
    resolve: (_root, args, ctx) => social.friendRequests(ctx.deps, ctx.viewer.id, args.incoming),
  }),
}));
