"""Shared test configuration. Fixture modules live in tests/fixtures/ and are registered here."""

pytest_plugins: list[str] = [
    "tests.fixtures.platforms",
    "tests.fixtures.bluesky",
    "tests.fixtures.x",
    "tests.fixtures.redis",
    "tests.fixtures.stores",
    "tests.fixtures.celery",
    "tests.fixtures.chromium",
    "tests.fixtures.references",
    "tests.fixtures.bluesky_pds",
]
