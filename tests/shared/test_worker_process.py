"""Long-running processes: start-up objects kept out of the collector's full passes, and
gunicorn's own per-request work kept to what is used."""
import gc
import subprocess
import sys

from shared.heap import freeze_start_up_objects


def test_freezing_takes_the_objects_alive_now_out_of_the_collectors_generations():
    kept = [{"made": "before"}]
    try:
        freeze_start_up_objects()
        assert gc.get_freeze_count() > 0
        assert not any(item is kept for item in gc.get_objects())
        later = [{"made": "after"}]
        assert any(item is later for item in gc.get_objects())
    finally:
        gc.unfreeze()


def test_a_gunicorn_worker_freezes_its_app_once_it_is_built():
    # gunicorn calls post_worker_init after the worker has loaded the app; run it in a process
    # of its own (it also installs the error pages into gunicorn).
    script = ("import gc; from shared import gunicorn_conf as conf; "
              "before = gc.get_freeze_count(); conf.post_worker_init(None); "
              "print(before, gc.get_freeze_count())")
    before, after = subprocess.run([sys.executable, "-c", script], check=True, text=True,
                                   capture_output=True).stdout.split()
    assert int(before) == 0 and int(after) > 1000


def test_gunicorn_builds_no_access_line_of_its_own():
    # Each app writes its own access line; gunicorn's logger, given a logging configuration,
    # would build every request's fields for a logger that drops them.
    from gunicorn.config import Config

    from shared import gunicorn_conf as conf
    config = Config()
    config.set("logconfig_dict", conf.logconfig_dict)
    config.set("logger_class", conf.logger_class)
    logger = config.logger_class(config)
    assert isinstance(logger, conf.ClientLoopLogger)
    assert logger.access_log_enabled is False
    # Nothing of the request is looked at (these would fail if it were).
    assert logger.access(None, None, None, None) is None
