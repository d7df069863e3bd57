-- A claim leases its images and reads them back in one round trip: the
-- lease tokens are made by the claimer and sent with the claim, and the
-- read that follows it in the same batch finds the leased rows by token.
-- Only leased images have a token, so the index holds the images being
-- worked on and nothing else.
CREATE INDEX images_lease_token ON images (lease_token) WHERE lease_token IS NOT NULL;
