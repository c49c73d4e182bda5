"""Long-running processes keep their start-up objects out of the collector's full passes."""
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
