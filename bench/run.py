"""Reproducible benchmarks: `make bench` (PostgreSQL).

Seeds a dedicated database with `seed_demo --deals N` (timed), then measures server time in-process
(Django's test client: middleware, views, templates, serializers — no network) and query counts for
the hot pages and endpoints. Prints a table and writes bench/results/latest.json.

    make bench                          # 100k deals on postgres://postgres@127.0.0.1:5432/salesproc_bench
    make bench BENCH_ARGS="--deals 5000 --requests 20"
    make bench BENCH_ARGS="--reuse"     # keep the seeded database from the last run
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def manage(*args: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per endpoint")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/salesproc_bench"),
    )
    parser.add_argument("--reuse", action="store_true", help="reuse the seeded database if it has the data")
    args = parser.parse_args()

    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": args.database_url}
    env.pop("CELERY_BROKER_URL", None)  # tasks eager: the benchmark measures the web tier
    os.environ.update({"DEBUG": "1", "DATABASE_URL": args.database_url})
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesproc.settings")

    if args.database_url.startswith("postgres"):
        import psycopg2

        dbname = args.database_url.rsplit("/", 1)[1]
        admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
        conn = psycopg2.connect(admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            exists = cur.fetchone() is not None
            if exists and not args.reuse:
                cur.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
                exists = False
            if not exists:
                cur.execute(f'CREATE DATABASE "{dbname}"')
        conn.close()

    results: dict = {"deals": args.deals, "database": args.database_url.split("@")[-1]}
    manage("migrate", "--noinput", env=env)

    import django

    django.setup()
    from deals.models import Deal

    if not (args.reuse and Deal.objects.count() >= args.deals):
        from django.db import connections

        connections.close_all()
        seconds = manage("seed_demo", "--deals", str(args.deals), "--seed", "42", env=env)
        results["seed_demo_seconds"] = round(seconds, 1)
        print(f"seed_demo --deals {args.deals}: {seconds:.1f} s")
        manage(
            "shell",
            "-c",
            "from django.db import connection; c=connection.cursor(); c.execute('ANALYZE')",
            env=env,
        )

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from rest_framework.authtoken.models import Token

    from orgs.models import Membership
    from salesproc.models import Process

    settings.ALLOWED_HOSTS = ["*"]
    ops = Membership.objects.select_related("user", "organization").get(user__email="ops@demo.test")
    manager = Membership.objects.select_related("user").get(
        user__email="manager@demo.test", organization=ops.organization
    )
    process = Process.objects.get(organization=ops.organization, name="New business")
    busiest = Deal.objects.filter(organization=ops.organization).order_by("-id").only("id").first()
    token, _ = Token.objects.get_or_create(user=ops.user)

    web_ops = Client()
    web_ops.force_login(ops.user)
    web_manager = Client()
    web_manager.force_login(manager.user)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    board = reverse("board", args=[process.id])
    cases = [
        ("board (ops, all deals)", web_ops, board),
        ("board (manager, ?team=1)", web_manager, board + "?team=1"),
        ("board search (?q=)", web_ops, board + "?q=Acme"),
        ("board gap filter (?gap=no_champion)", web_ops, board + "?gap=no_champion"),
        ("board any gap, mine (?gap=any&owner=me)", web_manager, board + "?gap=any&owner=me"),
        ("deal page", web_ops, reverse("deal_detail", args=[busiest.id])),
        ("deal list API", api, "/api/deals/"),
        ("deal list API (?status=open&process)", api, f"/api/deals/?status=open&process={process.id}"),
        ("deal list API (?gap=single_threaded)", api, "/api/deals/?gap=single_threaded"),
    ]
    rows = []
    for label, client, url in cases:
        for _ in range(3):
            client.get(url)  # warm caches and connections
        times = []
        queries = None
        for _ in range(args.requests):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{label}: {url} answered {response.status_code}")
            queries = len(ctx.captured_queries)
        row = {
            "case": label,
            "url": url,
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 0.95), 2),
            "queries": queries,
        }
        rows.append(row)
    results["endpoints"] = rows
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")

    print(f"\n{'case':44} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for row in rows:
        print(f"{row['case']:44} {row['median_ms']:>10} {row['p95_ms']:>8} {row['queries']:>8}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out / 'latest.json'}")


if __name__ == "__main__":
    main()
