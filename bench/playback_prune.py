"""Benchmark: pruning applied event ids past the retention, in the short batches the playback
service uses, against one DELETE of the same rows, in the same run.

Writes N ids applied long ago (dated in the year 2000, so no real row is ever in range), prunes
them with ``prune_processed_events``, writes them again and deletes them with one statement.
The batched pruning is slower in total; what it buys is that no transaction holds more than a
batch of rows, so appliers of new events never wait long behind it. Prints one JSON line last.

    python bench/playback_prune.py [--rows 1000000] [--batch 10000]

Uses BACKBEAT_PLAYBACK_DATABASE_URL (the development database by default; the schema is
migrated first, and every row this run wrote is gone at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.migrate import upgrade
from backbeat.playback.store.retention import prune_processed_events
from backbeat.runtime.database import Database

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2000, 6, 1, tzinfo=UTC)


async def write_old_ids(database: Database, run: str, rows: int) -> None:
    async with database.session() as session:
        await session.execute(
            text(
                "INSERT INTO processed_events (event_id, user_id, sequence, processed_at) "
                "SELECT :run || '-' || n, :run || '-user-' || (n % 1000), n, "
                "       CAST(:long_ago AS timestamptz) + n * interval '1 second' "
                "FROM generate_series(1, :rows) AS n"
            ),
            {"run": f"bench-{run}", "rows": rows, "long_ago": LONG_AGO},
        )
        await session.execute(text("ANALYZE processed_events"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    settings = PlaybackSettings()
    await asyncio.to_thread(upgrade, settings.database_url)
    database = Database(settings.database_url, pool_size=2)
    run = uuid.uuid4().hex[:8]
    try:
        print(f"writing {args.rows:,} old ids", file=sys.stderr)
        await write_old_ids(database, run, args.rows)
        started = time.perf_counter()
        pruned = await prune_processed_events(database, CUTOFF, batch=args.batch)
        batched_s = time.perf_counter() - started
        print(f"pruned {pruned:,} in {batched_s:.1f} s", file=sys.stderr)

        print(f"writing {args.rows:,} old ids again", file=sys.stderr)
        await write_old_ids(database, run, args.rows)
        started = time.perf_counter()
        async with database.session() as session:
            result = await session.execute(
                text("DELETE FROM processed_events WHERE processed_at < :cutoff"),
                {"cutoff": CUTOFF},
            )
        single_s = time.perf_counter() - started
        deleted = int(getattr(result, "rowcount", 0) or 0)
        print(f"one DELETE: {deleted:,} in {single_s:.1f} s", file=sys.stderr)
    finally:
        async with database.session() as session:
            await session.execute(
                text("DELETE FROM processed_events WHERE event_id LIKE :run"),
                {"run": f"bench-{run}-%"},
            )
        await database.dispose()

    batches = max(1, math.ceil(pruned / args.batch))
    print(
        json.dumps(
            {
                "bench": "playback_prune",
                "results": {
                    "rows": args.rows,
                    "pruned": pruned,
                    "batch": args.batch,
                    "seconds": round(batched_s, 2),
                    "rows_per_s": round(pruned / batched_s),
                    "mean_transaction_ms": round(batched_s / batches * 1000, 1),
                },
                "baseline": {
                    "single_delete_rows": deleted,
                    "single_delete_seconds": round(single_s, 2),
                    "single_delete_rows_per_s": round(deleted / single_s),
                },
                "ratio": {
                    "rows_per_s_batched_to_single": round(
                        (pruned / batched_s) / (deleted / single_s), 3
                    ),
                    "mean_transaction_to_single_delete": round((batched_s / batches) / single_s, 4),
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
