-- Per-image analysis settings from the upload (canopy.v1.AnalysisOptions
-- in protojson): SAVI's L, the indices to compute, a declared reflectance
-- scale. NULL: analysis-svc's defaults. Stored as JSON so an operator can
-- read and query them without the proto definitions.
ALTER TABLE images ADD COLUMN analysis_options jsonb;
