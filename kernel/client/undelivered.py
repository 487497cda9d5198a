"""Non-blocking calls that handed engines shared-memory segments, kept until answered.

A script that ends right after ``push(..., block=False)`` of a big array
still delivers it: at exit, each such call is waited for before the segments
are removed.
"""

import atexit

_UNDELIVERED = set()
_registered = False


def keep(pending):
    """Keep ``pending`` until answered; at exit, wait for it before the segments go.

    The exit handler is registered with the first one: after ``shmpool``'s
    (which removes the segments) and after the one ``weakref.finalize`` uses
    (which would forget the PendingResult's requests), so it runs before both.
    """
    global _registered
    if not _registered:
        atexit.register(_let_engines_take_their_segments)
        _registered = True
    _UNDELIVERED.add(pending)


def answered(pendings):
    """These calls were answered: nothing is left to wait for at exit."""
    _UNDELIVERED.difference_update(pendings)


def _let_engines_take_their_segments():
    for pending in list(_UNDELIVERED):
        try:
            pending.get_result(block=True)
        except Exception:
            pass  # the push failed or the controller is gone: nothing left to wait for
