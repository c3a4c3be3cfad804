-- Event search (searchEvents): one weighted tsvector per event, kept by a trigger and indexed
-- with GIN. A trigger rather than a generated column: Prisma cannot describe a generated column,
-- so its schema diff would keep wanting to drop its "default". The text search configuration is
-- named ('english'), never the session's default_text_search_config, so a document and a query
-- are always stemmed alike.
ALTER TABLE "events" ADD COLUMN "search_vector" tsvector;

CREATE FUNCTION events_search_document(title text, tags text[], location_name text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
      || setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(tags, ' '), '') || ' ' || coalesce(location_name, '')), 'B')
      || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
$$;

CREATE FUNCTION events_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := events_search_document(NEW.title, NEW.interest_tags, NEW.location_name, NEW.description);
  RETURN NEW;
END
$$;

CREATE TRIGGER events_search_vector
BEFORE INSERT OR UPDATE OF title, interest_tags, location_name, description ON "events"
FOR EACH ROW EXECUTE FUNCTION events_search_vector();

UPDATE "events" SET search_vector = events_search_document(title, interest_tags, location_name, description);

-- CreateIndex
CREATE INDEX "events_search_idx" ON "events" USING GIN ("search_vector");
