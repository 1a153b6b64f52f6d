from tests.helpers import db, db_url, make_services  # noqa: F401
from tests.program import program  # noqa: F401 - a file may define its own `program`
from tests.servers.fixtures import *  # noqa: F403


def pytest_sessionfinish(session, exitstatus):  # noqa: ANN001, ANN201 - pytest hook
    """Under CI=true a skipped test is a failure: a test that did not run proves nothing."""
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI", "").lower() == "true" and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
