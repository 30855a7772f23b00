"""Exits 0 when the Kafka broker at argv[1] answers a metadata request, 1 otherwise."""

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient


async def answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        await asyncio.wait_for(admin.list_topics(), timeout=5)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        await admin.close()


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(answers(sys.argv[1])) else 1)
