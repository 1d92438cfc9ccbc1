"""What the editor keeps beside its answers, shared by the server's threads: caches, and work in threads of its own
(a sample's Jacobian, an image's projection) with progress, cancelling and a one-line error when it fails."""

import threading
from collections import OrderedDict


class LRU(OrderedDict):
    """A dict that keeps its `size` entries used last, safe to share between threads."""

    def __init__(self, size):
        super().__init__()
        self.size, self.lock = size, threading.Lock()

    def put(self, key, value):
        with self.lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)
        return value

    def find(self, key, make=None):
        """The value of `key`; when missing, `make()`'s, kept (made outside the lock: it may take a while)."""
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        return self.put(key, make()) if make else None

    def now(self):
        with self.lock:
            return list(self.values())


class Task:
    """`work(task)` run in a thread; it calls `task.step(count)` as it goes and may add to `task.facts`."""

    def __init__(self, task_id, total, work):
        self.id, self.total, self.done, self.state, self.error, self.result, self.facts = \
            task_id, total, 0, 'running', None, None, {}
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def step(self, count=1):
        """Count progress; stops the work once cancelled."""
        if self._cancel.is_set():
            raise InterruptedError
        self.done += count

    def _run(self, work):
        try:
            self.result, self.state = work(self), 'done'
        except InterruptedError:
            self.state = 'cancelled'
        except Exception as error:  # the thread must report, not die silently
            self.state, self.error = 'failed', ' '.join(str(error).split())[:300] or type(error).__name__

    def cancel(self):
        if self.state == 'running':
            self._cancel.set()
            self._thread.join(timeout=30)
        return self.describe()

    def describe(self):
        return {'id': self.id, 'state': self.state, 'done': self.done, 'total': self.total, 'error': self.error,
                **self.facts}
