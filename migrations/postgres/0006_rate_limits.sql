-- Shared rate-limit counters when several processes serve one database and no Redis is configured
-- (SPEC §5). The layout is rate-limiter-flexible's RateLimiterPostgres table, created here so that
-- concurrent cold starts do not race to create it.
CREATE TABLE rate_limits (
  key VARCHAR(255) PRIMARY KEY,
  points INTEGER NOT NULL DEFAULT 0,
  expire BIGINT
);
