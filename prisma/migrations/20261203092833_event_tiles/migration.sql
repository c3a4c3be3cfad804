-- CreateTable
CREATE TABLE "event_tiles" (
    "zoom" SMALLINT NOT NULL,
    "x" INTEGER NOT NULL,
    "y" INTEGER NOT NULL,
    "status" "EventStatus" NOT NULL,
    "type" "EventType" NOT NULL,
    "shard" SMALLINT NOT NULL,
    "n" INTEGER NOT NULL,
    "sum_lat" DOUBLE PRECISION NOT NULL,
    "sum_lng" DOUBLE PRECISION NOT NULL,
    "south" DOUBLE PRECISION,
    "north" DOUBLE PRECISION,
    "west" DOUBLE PRECISION,
    "east" DOUBLE PRECISION,

    CONSTRAINT "event_tiles_pkey" PRIMARY KEY ("zoom","x","y","status","type","shard")
);

-- The cluster grid (src/services/events/clusters.ts): 64 px cells, 4 × 4 per 256 px web-mercator
-- tile, so 4 · 2^zoom columns and rows. IMMUTABLE one-line SQL functions, inlined by the planner.
CREATE FUNCTION event_tile_x(longitude float8, zoom int) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT LEAST(floor((longitude + 180) / 360 * (4 * 2 ^ zoom)), 4 * 2 ^ zoom - 1)::int
$$;

CREATE FUNCTION event_tile_y(latitude float8, zoom int) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT LEAST(GREATEST(floor(
    (1 - ln(tan(radians(LEAST(GREATEST(latitude, -85.05112878), 85.05112878)))
            + 1 / cos(radians(LEAST(GREATEST(latitude, -85.05112878), 85.05112878)))) / pi()) / 2
    * (4 * 2 ^ zoom)), 0), 4 * 2 ^ zoom - 1)::int
$$;

-- An INSERT statement's new events open to all, counted into every zoom's cell at once (a bulk
-- insert is one aggregate, not a row at a time). A transaction writes one shard of 8 (by its id),
-- and in key order, so writers of one cell rarely wait and never deadlock.
CREATE FUNCTION event_tiles_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_tiles AS t (zoom, x, y, status, type, shard, n, sum_lat, sum_lng, south, north, west, east)
  SELECT z, event_tile_x(e.longitude, z), event_tile_y(e.latitude, z), e.status, e.type, (txid_current() % 8)::smallint,
         count(*), sum(e.latitude), sum(e.longitude), min(e.latitude), max(e.latitude), min(e.longitude), max(e.longitude)
  FROM new_rows e CROSS JOIN generate_series(0, 10) AS z
  WHERE e.is_public AND e.status <> 'DRAFT'
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (zoom, x, y, status, type, shard) DO UPDATE SET
    n = t.n + EXCLUDED.n, sum_lat = t.sum_lat + EXCLUDED.sum_lat, sum_lng = t.sum_lng + EXCLUDED.sum_lng,
    south = LEAST(t.south, EXCLUDED.south), north = GREATEST(t.north, EXCLUDED.north),
    west = LEAST(t.west, EXCLUDED.west), east = GREATEST(t.east, EXCLUDED.east);
  RETURN NULL;
END
$$;

-- An event moved, changed status, visibility or type, or was deleted: out of its old cells, into
-- its new ones, in one statement in key order.
CREATE FUNCTION event_tiles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_tiles AS t (zoom, x, y, status, type, shard, n, sum_lat, sum_lng, south, north, west, east)
  SELECT c.zoom, c.x, c.y, c.status, c.type, (txid_current() % 8)::smallint,
         sum(c.delta), sum(c.delta * c.lat), sum(c.delta * c.lng),
         min(c.lat) FILTER (WHERE c.delta > 0), max(c.lat) FILTER (WHERE c.delta > 0),
         min(c.lng) FILTER (WHERE c.delta > 0), max(c.lng) FILTER (WHERE c.delta > 0)
  FROM (
    SELECT z AS zoom, event_tile_x(OLD.longitude, z) AS x, event_tile_y(OLD.latitude, z) AS y,
           OLD.status AS status, OLD.type AS type, -1 AS delta, OLD.latitude AS lat, OLD.longitude AS lng
    FROM generate_series(0, 10) AS z WHERE OLD.is_public AND OLD.status <> 'DRAFT'
    UNION ALL
    SELECT z, event_tile_x(NEW.longitude, z), event_tile_y(NEW.latitude, z), NEW.status, NEW.type, 1, NEW.latitude, NEW.longitude
    FROM generate_series(0, 10) AS z WHERE TG_OP = 'UPDATE' AND NEW.is_public AND NEW.status <> 'DRAFT'
  ) c
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (zoom, x, y, status, type, shard) DO UPDATE SET
    n = t.n + EXCLUDED.n, sum_lat = t.sum_lat + EXCLUDED.sum_lat, sum_lng = t.sum_lng + EXCLUDED.sum_lng,
    south = LEAST(t.south, EXCLUDED.south), north = GREATEST(t.north, EXCLUDED.north),
    west = LEAST(t.west, EXCLUDED.west), east = GREATEST(t.east, EXCLUDED.east);
  RETURN NULL;
END
$$;

CREATE TRIGGER events_tiles_insert AFTER INSERT ON "events"
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_tiles_inserted();

CREATE TRIGGER events_tiles_update AFTER UPDATE OF latitude, longitude, status, is_public, type ON "events"
FOR EACH ROW WHEN (OLD.latitude IS DISTINCT FROM NEW.latitude OR OLD.longitude IS DISTINCT FROM NEW.longitude
  OR OLD.status IS DISTINCT FROM NEW.status OR OLD.is_public IS DISTINCT FROM NEW.is_public OR OLD.type IS DISTINCT FROM NEW.type)
EXECUTE FUNCTION event_tiles_changed();

CREATE TRIGGER events_tiles_delete AFTER DELETE ON "events"
FOR EACH ROW EXECUTE FUNCTION event_tiles_changed();

-- The events there are already.
INSERT INTO event_tiles (zoom, x, y, status, type, shard, n, sum_lat, sum_lng, south, north, west, east)
SELECT z, event_tile_x(e.longitude, z), event_tile_y(e.latitude, z), e.status, e.type, 0,
       count(*), sum(e.latitude), sum(e.longitude), min(e.latitude), max(e.latitude), min(e.longitude), max(e.longitude)
FROM events e CROSS JOIN generate_series(0, 10) AS z
WHERE e.is_public AND e.status <> 'DRAFT'
GROUP BY 1, 2, 3, 4, 5;
