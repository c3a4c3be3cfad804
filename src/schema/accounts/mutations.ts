import { builder } from '../../builder.ts';
import * as accounts from '../../services/accounts/index.ts';
import { PASSWORD_LENGTH } from '../../services/accounts/index.ts';
import * as deletion from '../../services/accounts/deletion.ts';
import * as dataExport from '../../services/accounts/export.ts';
import { AuthPayload, DataExport, RegisterInput } from './types.ts';

builder.mutationFields((t) => ({
  register: t.field({
    type: AuthPayload,
    description: 'Creates an account and signs it in. A taken username is CONFLICT.',
    args: { input: t.arg({ type: RegisterInput, required: true, description: 'The account.' }) },
    resolve: (_root, { input }, ctx) => accounts.register(ctx.deps, input, ctx.clientIp),
  }),
  login: t.field({
    type: AuthPayload,
    description: 'Signs in. Attempts are rate-limited per username and per IP (RATE_LIMITED).',
    args: {
      username: t.arg.string({ required: true, description: 'Username, any letter case.' }),
      password: t.arg.string({ required: true, description: 'Password.' }),
    },
    resolve: (_root, args, ctx) => accounts.login(ctx.deps, args.username, args.password, ctx.clientIp),
  }),
  refreshSession: t.field({
    type: AuthPayload,
    description: 'Trades a refresh token for a new access and refresh token; the old refresh token stops working.',
    args: { refreshToken: t.arg.string({ required: true, description: 'The latest refresh token of the session.' }) },
    resolve: (_root, args, ctx) => accounts.refreshSession(ctx.deps, args.refreshToken),
  }),
  logout: t.boolean({
    description:
      'Ends the session of this refresh token (its access tokens are refused within seconds, its WebSockets closed with 4403); false if it named no live session.',
    args: { refreshToken: t.arg.string({ required: true, description: 'A refresh token of the session.' }) },
    resolve: (_root, args, ctx) => accounts.logout(ctx.deps, args.refreshToken),
  }),
  logoutAllSessions: t.withAuth({ signedIn: true }).boolean({
    description:
      'Ends every session of the signed-in user, on every device: within seconds their access tokens are refused (UNAUTHENTICATED) and their WebSockets closed with 4403.',
    resolve: (_root, _args, ctx) => accounts.logoutAllSessions(ctx.deps, ctx.viewer.id),
  }),
  changePassword: t.withAuth({ signedIn: true }).boolean({
    description: 'Changes the password and ends every session; sign in again with the new password.',
    args: {
      currentPassword: t.arg.string({ required: true, description: 'The password now.' }),
      newPassword: t.arg.string({
        required: true,
        description: `${PASSWORD_LENGTH.min}–${PASSWORD_LENGTH.max} characters.`,
      }),
    },
    resolve: (_root, args, ctx) =>
      accounts.changePassword(ctx.deps, ctx.viewer.id, args.currentPassword, args.newPassword),
  }),
  deleteAccount: t.withAuth({ signedIn: true }).boolean({
    description:
      'Deletes the viewer’s account and everything that is only theirs, stored image files included; needs the password (wrong: BAD_USER_INPUT). Hosted events that have not ended are cancelled and their attendees notified; messages stay in the chats of others, from a deleted account (User.isDeleted). Every session ends at once, on every instance.',
    args: { password: t.arg.string({ required: true, description: 'The account’s password.' }) },
    resolve: (_root, args, ctx) => deletion.deleteAccount(ctx.deps, ctx.viewer.id, args.password),
  }),
  exportMyData: t.withAuth({ signedIn: true }).field({
    type: DataExport,
    description:
      'Everything the server keeps about the viewer, as a download: a link to one JSON document, built when the link is followed. The link needs no Authorization header, works until expiresAt, and stops when the session that asked for it ends.',
    resolve: (_root, _args, ctx) => dataExport.requestExport(ctx.deps, ctx.viewer),
  }),
}));
