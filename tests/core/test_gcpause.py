import gc
import threading

from zeroshot.core.gcpause import collector_paused


def _collections_during(fn):
    seen = []

    def callback(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    try:
        fn()
    finally:
        gc.callbacks.remove(callback)
    return seen


def _allocate():
    keep = [[i] for i in range(50_000)]  # 50k containers: many young-generation collections
    return len(keep)


def test_no_collection_runs_inside_and_the_collector_resumes():
    assert gc.isenabled()
    assert _collections_during(_allocate)  # the collector does run on this much

    def paused():
        with collector_paused():
            assert not gc.isenabled()
            _allocate()

    assert _collections_during(paused) in ([], [0])  # at most the deferred one, after
    assert gc.isenabled()


def test_nested_and_threaded_pauses_resume_once_at_the_end():
    inside = threading.Event()
    release = threading.Event()

    def worker():
        with collector_paused():
            inside.set()
            release.wait(5)

    with collector_paused():
        t = threading.Thread(target=worker)
        t.start()
        inside.wait(5)
        with collector_paused():
            assert not gc.isenabled()
    assert not gc.isenabled()  # the worker is still inside its call
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled_and_false_leaves_it_alone():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with collector_paused(False):
        assert gc.isenabled()
