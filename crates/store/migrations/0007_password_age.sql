-- Password rotation (`auth.password_max_age_days`) needs each password's
-- age: `password_changed_at` (ms since the Unix epoch) is set when an
-- account is created and when its owner chooses a new password, and not by
-- a transparent rehash at login (which only `updated_at` records). Accounts
-- that exist already get `updated_at`, the latest moment their password can
-- have changed, so turning the policy on never counts a password older than
-- it can be.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;

UPDATE users SET password_changed_at = updated_at;
