-- Nothing new for a deleted account (src/services/accounts/deletion.ts). A request already
-- running when the deletion commits would insert its row once the deletion's row lock is gone
-- (the foreign key check waits for it): these triggers take the same lock (FOR KEY SHARE, which
-- waits for the deletion) and refuse the row when the account is a tombstone. Only the columns
-- of what the user does themself: rows others make about them (a notification, a membership)
-- must not fail the other person's action.
CREATE FUNCTION refuse_deleted_account() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owner uuid := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
BEGIN
  PERFORM 1 FROM users WHERE id = owner AND deleted_at IS NULL FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % is deleted', owner USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER devices_users_alive BEFORE INSERT ON devices
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('user_id');
CREATE TRIGGER event_comments_users_alive BEFORE INSERT ON event_comments
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('author_id');
CREATE TRIGGER friend_requests_users_alive BEFORE INSERT ON friend_requests
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('from_id');
CREATE TRIGGER ratings_users_alive BEFORE INSERT ON ratings
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('rater_id');
CREATE TRIGGER event_shares_users_alive BEFORE INSERT ON event_shares
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('shared_by_id');
CREATE TRIGGER event_likes_users_alive BEFORE INSERT ON event_likes
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('user_id');
CREATE TRIGGER user_blocks_users_alive BEFORE INSERT ON user_blocks
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('blocker_id');
CREATE TRIGGER reports_users_alive BEFORE INSERT ON reports
  FOR EACH ROW EXECUTE FUNCTION refuse_deleted_account('reporter_id');
