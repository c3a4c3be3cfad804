-- searchEvents ranks in tiers an index can order (src/services/events/search.ts): events whose
-- title holds the query, then those whose title, tags and location name hold it, then the
-- rest. Each tier is its own document with its own GIN index, so the planner's statistics see
-- how common a word is in titles, not only anywhere.
ALTER TABLE "events" ADD COLUMN "search_near" tsvector,
ADD COLUMN "search_title" tsvector;

CREATE OR REPLACE FUNCTION events_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := events_search_document(NEW.title, NEW.interest_tags, NEW.location_name, NEW.description);
  NEW.search_title := to_tsvector('english'::regconfig, NEW.title);
  NEW.search_near := events_search_document(NEW.title, NEW.interest_tags, NEW.location_name, '');
  RETURN NEW;
END
$$;

UPDATE "events" SET search_title = to_tsvector('english'::regconfig, title),
  search_near = events_search_document(title, interest_tags, location_name, '');

-- CreateIndex
CREATE INDEX "events_search_title_idx" ON "events" USING GIN ("search_title");

-- CreateIndex
CREATE INDEX "events_search_near_idx" ON "events" USING GIN ("search_near");
