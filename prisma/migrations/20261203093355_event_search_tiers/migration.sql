-- searchEvents ranks in tiers an index can order (src/services/events/search.ts): events whose
-- title holds the query, then those whose title, tags and location name hold it (so tags or
-- place hold one of its words), then the rest (so the description holds one of its words).
-- The title, the tags with the place, and the description are documents of their own with GIN
-- indexes, so the planner's statistics see how common a word is in each and pick the index
-- order on starts_at or the word's index rightly; the whole event's document and the title
-- with tags and place are only checked row by row, and need no index.
ALTER TABLE "events" ADD COLUMN "search_title" tsvector,
ADD COLUMN "search_place" tsvector,
ADD COLUMN "search_near" tsvector,
ADD COLUMN "search_description" tsvector;

CREATE OR REPLACE FUNCTION events_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := events_search_document(NEW.title, NEW.interest_tags, NEW.location_name, NEW.description);
  NEW.search_title := to_tsvector('english'::regconfig, NEW.title);
  NEW.search_place := events_search_document('', NEW.interest_tags, NEW.location_name, '');
  NEW.search_near := events_search_document(NEW.title, NEW.interest_tags, NEW.location_name, '');
  NEW.search_description := to_tsvector('english'::regconfig, NEW.description);
  RETURN NEW;
END
$$;

UPDATE "events" SET search_title = to_tsvector('english'::regconfig, title),
  search_place = events_search_document('', interest_tags, location_name, ''),
  search_near = events_search_document(title, interest_tags, location_name, ''),
  search_description = to_tsvector('english'::regconfig, description);

-- DropIndex
DROP INDEX "events_search_idx";

-- CreateIndex
CREATE INDEX "events_search_title_idx" ON "events" USING GIN ("search_title");

-- CreateIndex
CREATE INDEX "events_search_place_idx" ON "events" USING GIN ("search_place");

-- CreateIndex
CREATE INDEX "events_search_description_idx" ON "events" USING GIN ("search_description");
