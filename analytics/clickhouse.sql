-- One row per request of the origin's download log, as `castedge stats --emit jsonl` writes it.
--   castedge stats --since 2026-11-01 --emit jsonl /var/log/castedge/downloads.log* \
--     | clickhouse-client --query 'INSERT INTO castedge_requests FORMAT JSONEachRow'
-- Loading the same rows twice is harmless: `id` names the log line, and the
-- ReplacingMergeTree keeps one row per id (query with FINAL). docs/analytics.md has
-- the query that counts downloads from these rows as `castedge stats` does.
CREATE TABLE IF NOT EXISTS castedge_requests
(
    id String,
    time DateTime64(3, 'UTC'),
    day Date,
    node LowCardinality(String),
    episode String,
    method LowCardinality(String),
    status UInt16,
    size UInt64,
    start UInt64,
    sent UInt64,
    listener String,
    agent String,
    app LowCardinality(String),
    device LowCardinality(String),
    country LowCardinality(String),
    filtered LowCardinality(String),
    audio_from UInt64,
    audio_to UInt64,
    needed UInt64,
    rule LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (episode, day, listener, id);
