// The `after` argument of resumable subscriptions (src/changes/).

/** What `after` means on every resumable subscription. */
export const AFTER_DESCRIPTION =
  'The last cursor received: first every change since it that the subscriber may see, in order and once, then live ones. RESYNC_REQUIRED when it is older than the history kept; BAD_USER_INPUT when it is not a cursor of this subscription.';
