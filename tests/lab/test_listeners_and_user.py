"""core/listeners.py (the lab's subscribers, the sampler's consumers) and core/user.py (who decides)."""

import getpass
import threading
from collections.abc import Callable

import pytest

from labconsole.core.listeners import Listeners
from labconsole.core.user import login_name
from labconsole.lab.subscribers import Subscribers


def test_listeners_add_returns_a_remover_that_is_safe_to_call_twice() -> None:
    listeners: Listeners[Callable[[], None]] = Listeners(
        threading.Lock()
    )  # not reentrant: add/remove take it themselves
    first, second = (lambda: None), (lambda: None)
    remove_first = listeners.add(first)
    listeners.add(second)
    assert listeners.current() == [first, second]
    remove_first()
    remove_first()
    assert listeners.current() == [second]


def test_a_subscriber_that_raises_does_not_stop_the_ones_after_it() -> None:
    lock = threading.RLock()
    subscribers = Subscribers(lock)
    seen: list[tuple[int, str]] = []

    def broken(event: object, state: object) -> None:
        raise RuntimeError("a broken view")

    subscribers.add(broken)
    subscribers.add(lambda event, state: seen.append((event, state)))
    with lock:
        subscribers.notify(1, "s")
    assert seen == [(1, "s")]


def test_login_name_falls_back_to_USER_then_the_given_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_passwd_entry() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_passwd_entry)
    monkeypatch.setenv("USER", "ada")
    assert login_name(fallback="human") == "ada"
    monkeypatch.delenv("USER")
    assert login_name(fallback="human") == "human"
    assert login_name(fallback="you") == "you"
