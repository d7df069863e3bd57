-- Tenancy and API keys. Every image belongs to a project; everything else
-- (files, GPS, analyses, events) hangs off an image, so filtering images by
-- project filters all of it. Existing images join the "default" project.

CREATE TABLE projects (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projects (id) VALUES ('default');

-- The default keeps single-tenant installs (and rows written by older code)
-- working; every query of the services names the project explicitly.
ALTER TABLE images ADD COLUMN project_id text NOT NULL DEFAULT 'default' REFERENCES projects (id);
CREATE INDEX images_project_status ON images (project_id, status, uploaded_at, id);

-- An idempotency key is unique within its project, not across projects: one
-- tenant must not be able to probe or collide with another's ids.
DROP INDEX images_client_upload_id;
CREATE UNIQUE INDEX images_client_upload_id ON images (project_id, client_upload_id) WHERE client_upload_id IS NOT NULL;

-- API keys are stored as the SHA-256 of the key: keys are 256-bit random
-- secrets, so a fast hash cannot be brute-forced and lookups stay O(1).
-- The prefix (the first characters of the key) is kept to tell keys apart
-- in lists and logs without revealing them.
-- A worker key may serve every project (project_id NULL): one analysis
-- pool can then work for all tenants without reading any tenant's data
-- through the read APIs.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    project_id   text REFERENCES projects (id),
    role         text NOT NULL CHECK (role IN ('uploader', 'viewer', 'worker', 'admin')),
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK (project_id IS NOT NULL OR role = 'worker')
);

-- The event notification carries the project too, so a watcher of one
-- project is never woken (let alone told) about another's images.
CREATE OR REPLACE FUNCTION image_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    project text;
BEGIN
    UPDATE images SET last_event_seq = NEW.seq WHERE id = NEW.image_id RETURNING project_id INTO project;
    PERFORM pg_notify('canopy_image_events', NEW.seq::text || ' ' || NEW.image_id::text || ' ' || project);
    IF NEW.status = 'uploaded' THEN
        PERFORM pg_notify('canopy_work', NEW.image_id::text);
    END IF;
    RETURN NULL;
END;
$$;
