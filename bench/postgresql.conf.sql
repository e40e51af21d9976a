-- The PostgreSQL settings the published bench figures were measured with (PostgreSQL 15,
-- 2 cores, 24 GB). Debian's defaults are sized for a small machine: 128 MB of shared
-- buffers against a 10M-number table of several GB, and a checkpoint every 1 GB of WAL,
-- which a 1M-row sweep or import passes many times over (each checkpoint makes the next
-- write of every page a full-page image). Durability is unchanged (fsync and
-- synchronous_commit stay on). work_mem 32MB: a partner's filtered scope at 10M (a bitmap of
-- 1M rows ANDed with a tag's) stays exact instead of lossy (16k pages rechecked row by row). Apply as a superuser, then restart PostgreSQL:
--   psql -h 127.0.0.1 -U postgres -f bench/postgresql.conf.sql
--   pg_ctlcluster --skip-systemctl-redirect 15 main restart
ALTER SYSTEM SET shared_buffers = '4GB';
ALTER SYSTEM SET max_wal_size = '16GB';
ALTER SYSTEM SET checkpoint_timeout = '30min';
ALTER SYSTEM SET maintenance_work_mem = '1GB';
ALTER SYSTEM SET work_mem = '32MB';
-- The first change of a page after a checkpoint writes the whole 8 KB page to the WAL; a sweep or
-- an import of 1M rows changes tens of thousands of index pages. lz4 makes those images a
-- fraction of their size (the 100k sweep, one run each: 7.1 s off, 6.5 s lz4; runs of the same
-- code vary by more than that with where the last checkpoint was). Takes effect on reload.
ALTER SYSTEM SET wal_compression = 'lz4';
