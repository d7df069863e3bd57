-- The pipeline's tables. images is the work queue as well as the catalogue:
-- the lease columns make a claim a single UPDATE ... FOR UPDATE SKIP LOCKED.

CREATE TABLE images (
    id                    uuid PRIMARY KEY,
    batch_id              text NOT NULL DEFAULT '',
    client_upload_id      text,
    filename              text NOT NULL,
    band_layout           text NOT NULL DEFAULT '',
    size_bytes            bigint NOT NULL,
    status                text NOT NULL CHECK (status IN ('uploaded', 'processing', 'completed', 'failed')),
    attempts              integer NOT NULL DEFAULT 0,
    max_attempts          integer NOT NULL,
    lease_owner           text,
    lease_token           uuid,
    lease_expires_at      timestamptz,
    -- A retry waits for its backoff: the image is claimable once run_after passes.
    run_after             timestamptz NOT NULL DEFAULT now(),
    last_error            text NOT NULL DEFAULT '',
    capture_time          timestamptz,
    uploaded_at           timestamptz NOT NULL DEFAULT now(),
    processing_started_at timestamptz,
    processed_at          timestamptz,
    last_event_seq        bigint NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX images_client_upload_id ON images (client_upload_id) WHERE client_upload_id IS NOT NULL;
CREATE INDEX images_status_uploaded_at ON images (status, uploaded_at, id);
CREATE INDEX images_claimable ON images (run_after, uploaded_at) WHERE status = 'uploaded';
CREATE INDEX images_lease_expiry ON images (lease_expires_at) WHERE status = 'processing';
CREATE INDEX images_batch ON images (batch_id, uploaded_at, id) WHERE batch_id <> '';

-- One row per stored file: one for a photo, one per band for a rig capture.
CREATE TABLE image_files (
    image_id     uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    file_index   integer NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    band_role    text NOT NULL DEFAULT '',
    blob_key     text NOT NULL UNIQUE,
    size_bytes   bigint NOT NULL,
    sha256       text NOT NULL,
    PRIMARY KEY (image_id, file_index)
);

CREATE TABLE image_gps (
    image_id  uuid PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    latitude  double precision NOT NULL,
    longitude double precision NOT NULL,
    altitude  double precision,
    source    text NOT NULL CHECK (source IN ('exif', 'client')),
    -- false: the file flags its fix as void; kept for reference, not a location.
    valid     boolean NOT NULL,
    warning   text NOT NULL DEFAULT ''
);

-- Exactly one analysis per image: a second CompleteWork cannot add another.
CREATE TABLE analyses (
    image_id          uuid PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    algorithm_version text NOT NULL,
    calibration_mode  text NOT NULL,
    width             integer NOT NULL,
    height            integer NOT NULL,
    map_index         text NOT NULL DEFAULT '',
    map_blob_key      text NOT NULL DEFAULT '',
    worker            text NOT NULL DEFAULT '',
    -- The full result (indices, statistics, warnings) as protojson, so adding a
    -- metric does not need a migration; the columns above are what we query.
    result            jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Append-only log of every status transition. seq orders all events of all
-- images, so a watcher can resume from the last one it saw.
CREATE TABLE image_events (
    seq        bigserial PRIMARY KEY,
    image_id   uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    status     text NOT NULL,
    attempt    integer NOT NULL DEFAULT 0,
    message    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX image_events_image ON image_events (image_id, seq);

-- Every event announces itself in the inserting transaction, so a rollback
-- is never announced and no code path can forget to. The payload holds ids
-- only (NOTIFY payloads are capped at 8000 bytes; messages can be longer):
-- listeners read the truth from the tables.
CREATE FUNCTION image_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE images SET last_event_seq = NEW.seq WHERE id = NEW.image_id;
    PERFORM pg_notify('canopy_image_events', NEW.seq::text || ' ' || NEW.image_id::text);
    IF NEW.status = 'uploaded' THEN
        PERFORM pg_notify('canopy_work', NEW.image_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER image_events_notify AFTER INSERT ON image_events
    FOR EACH ROW EXECUTE FUNCTION image_events_notify();
