"""Views subscribed to a lab's events: added and removed under the lab's lock, told in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labconsole.core.listeners import Listeners

Subscriber = Callable[[Any, Any], None]  # fn(event, state)


class Subscribers(Listeners[Subscriber]):
    def notify(self, event: Any, state: Any) -> None:
        """Call every subscriber (the caller holds the lock, so events arrive in log order)."""
        for fn in self.current():
            try:
                fn(event, state)
            except Exception:  # a broken view must not stop the lab
                pass
