"""Workers' live-log lines go through the main thread and never wait for its lock."""

import io
import logging
import threading

from fixtures.devices import MainThreadLiveLog


def test_a_worker_logs_even_while_the_main_thread_holds_the_handler_lock():
    """A Ctrl-C landing in the main thread inside the handler's lock leaves it held; a
    worker that logs then must not wait for it (a SIGTERM run once hung so)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(threadName)s %(message)s"))
    log = logging.getLogger("hil.test.livelog")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    live = MainThreadLiveLog(handler)
    try:
        handler.acquire()  # held, as a lock an interrupt left behind would be
        worker = threading.Thread(target=log.info, args=("from the worker",), name="w1",
                                  daemon=True)
        worker.start()
        worker.join(2.0)
        assert not worker.is_alive(), "the worker waited for the main thread's lock"
        assert out.getvalue() == ""  # queued: only the main thread writes
        log.info("from the main thread")  # writes the worker's line first
        assert out.getvalue() == "w1 from the worker\nMainThread from the main thread\n"
        handler.release()
    finally:
        live.close()
        log.removeHandler(handler)
    assert "handle" not in vars(handler)  # the handler is as it was
