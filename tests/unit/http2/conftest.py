"""Every async test here runs twice: on asyncio's default loop and on uvloop."""

from tests.unit.server_checks import both_loops, errors_logged_by

pytest_asyncio_loop_factories = both_loops
logged_errors = errors_logged_by("mecha.http2")
