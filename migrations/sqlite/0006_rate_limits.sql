-- Nothing to do on SQLite: one process serves the database, so rate-limit counters live in its memory.
-- (PostgreSQL's 0006 adds the table that processes sharing one database count in.)
SELECT 1;
