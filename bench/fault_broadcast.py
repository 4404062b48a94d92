"""Fault script: workers killed and Redis emptied in the middle of a broadcast.

Run: .venv/bin/python bench/fault_broadcast.py [--members 10000] [--kills 5] [--seed N]

Two scenarios, each on a fresh stack (redis-server, the sandbox process, SQLite, two
`rq worker` processes; see bench/broadcast.py):

1. kill -9: while a broadcast to every member goes out, a worker is
   killed with SIGKILL at a random moment and a new one started, `--kills` times. The
   sandbox is another process, so a worker can die after the sandbox accepted a message and
   before the row was marked sent: those rows are reconciled against the sandbox.
2. Redis emptied: halfway through, redis-server is killed and started again with nothing in
   it; the rest goes out from what the database holds.

The periodic jobs of workers/cron.py (the outbox sweep and reconciliation) are run by this
script every two seconds, reconciliation with a 10 s timeout instead of 2 min, so the run
is short. In both scenarios every member must end with exactly one message in the sandbox's
record and the broadcast must be done. Exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

# The stack and its helpers are the benchmark's own (bench/ is scripts, not a package).
from broadcast import Cron, add_members, check, create, finish, stack


def kill_scenario(members: int, kills: int, rng: random.Random) -> bool:
    """Kill a worker with SIGKILL `kills` times at random moments of one broadcast."""
    print(f"kill -9 a worker {kills} times during a broadcast to {members} members")
    with stack() as running:
        phones = add_members(running, members)
        for number in range(2):
            running.start_worker(f"w{number}")
        time.sleep(3)
        cron = Cron(running)
        started = time.monotonic()
        broadcast_id = create(running)
        for kill in range(kills):
            pause = rng.uniform(0.2, 3.0)
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline:
                cron.tick()
                time.sleep(0.05)
            victim = rng.choice(running.workers)
            at = running.sandbox_count()
            running.kill_worker(victim)
            running.workers.remove(victim)
            running.start_worker(f"w-after-kill-{kill}")
            print(
                f"  kill {kill + 1}: pid {victim.pid} at {time.monotonic() - started:5.1f} s, "
                f"{at} messages out"
            )
        took = finish(running, cron, broadcast_id, members)
        print(
            f"  finished {took:.1f} s after the last kill; reconciliation adopted "
            f"{cron.adopted} rows and queued {cron.requeued} again"
        )
        return check(running, phones, broadcast_id)


def redis_scenario(members: int) -> bool:
    """Kill redis-server halfway through a broadcast and start it again empty."""
    print(f"Redis killed and started empty during a broadcast to {members} members")
    with stack() as running:
        phones = add_members(running, members)
        for number in range(2):
            running.start_worker(f"w{number}")
        time.sleep(3)
        cron = Cron(running)
        broadcast_id = create(running)
        while running.sandbox_count() < members // 2:
            time.sleep(0.05)
        running.stop_redis()
        at = running.sandbox_count()
        time.sleep(2)  # the workers find Redis gone
        running.start_redis()
        from redis import Redis

        keys = Redis.from_url(running.redis_url).dbsize()
        print(f"  Redis killed with {at} messages out; started again with {keys} keys")
        took = finish(running, cron, broadcast_id, members)
        print(
            f"  finished {took:.1f} s after the restart; reconciliation adopted "
            f"{cron.adopted} rows and queued {cron.requeued} again"
        )
        return check(running, phones, broadcast_id)


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios; 1 if any member got no message or more than one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    print(f"seed {seed}")
    results: dict[str, Any] = {
        "kill -9": kill_scenario(args.members, args.kills, random.Random(seed)),
        "redis emptied": redis_scenario(args.members),
    }
    for name, passed in results.items():
        print(f"{name:<14} {'every member exactly once' if passed else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
