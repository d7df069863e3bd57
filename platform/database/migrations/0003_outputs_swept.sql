-- When ingest-svc last removed a failed image's analysis outputs (colour
-- maps, GeoTIFFs, thumbnail that an attempt wrote before it died or was
-- refused). An image failed again after a retry is swept again: the sweep
-- is due while outputs_swept_at < processed_at.
ALTER TABLE images ADD COLUMN outputs_swept_at timestamptz;
CREATE INDEX images_unswept_failures ON images (processed_at) WHERE status = 'failed';
