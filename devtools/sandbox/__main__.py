"""Run the sandbox without the main app: `python -m devtools.sandbox --port 5055 ...`."""

from __future__ import annotations

import argparse

from devtools.sandbox.app import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS, DEFAULT_WORKERS, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m devtools.sandbox", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db", required=True, help="path of the sandbox's SQLite file")
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--account-sid", default=None, help="accept only this account")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument(
        "--push-base", default=None, help="where mainland pushes go, e.g. http://host:5000/cn"
    )
    parser.add_argument("--push-secret", default="", help="CN_CALLBACK_SECRET of that app")
    parser.add_argument("--tencent-secret-id", default=None, help="accept only this SecretId")
    parser.add_argument(
        "--tencent-secret-key", default="", help="TENCENT_SECRET_KEY: checks Tencent signatures"
    )
    parser.add_argument("--aliyun-key-id", default="", help="AccessKey ID the Alibaba API takes")
    parser.add_argument("--aliyun-key-secret", default="", help="its AccessKey secret")
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help="segments a second accepted before answering 429 / 20429 (0: no pace)",
    )
    args = parser.parse_args(argv)
    if args.pace is not None and args.pace < 0:
        parser.error("--pace must be 0 or more")
    serve(
        host=args.host,
        port=args.port,
        db_path=args.db,
        auth_token=args.auth_token,
        account_sid=args.account_sid,
        workers=args.workers,
        threads=args.threads,
        push_base=args.push_base,
        push_secret=args.push_secret,
        tencent_secret_id=args.tencent_secret_id,
        tencent_secret_key=args.tencent_secret_key,
        aliyun_key=(args.aliyun_key_id, args.aliyun_key_secret),
        pace=args.pace,
    )


if __name__ == "__main__":
    main()
