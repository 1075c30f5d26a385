-- The configuration (assets, markets, fee tiers) a projection has learnt
-- from the events, stored with its offset so that a restart resumes with
-- the configuration of that seq, never the live engine's (JSON; NULL until
-- the projection first stores one).
ALTER TABLE projector_offsets ADD COLUMN catalog TEXT;
