"""The registry of concrete classes by role and kind."""

from __future__ import annotations

import pytest

import socketdouble as sd
from socketdouble.net import episodes, proxy, replay
from socketdouble.net.kinds import concrete, kinds, registers


def test_each_role_has_a_class_for_each_of_its_kinds() -> None:
    assert kinds("proxy") == ("tcp", "udp", "unix", "unix_dgram")
    assert set(kinds("replay")) == {"tcp", "udp", "unix", "unix_dgram"}
    assert kinds("episodes") == ("tcp", "unix")
    assert concrete("proxy", "udp") is proxy.UDPProxy
    assert concrete("replay", "unix") is replay.UnixReplay
    assert concrete("episodes", "tcp") is episodes.TCPEpisodes
    assert issubclass(concrete("replay", "tcp"), sd.ReplayServer)


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="no episodes class for kind 'udp'; known: tcp, unix"):
        concrete("episodes", "udp")


def test_a_kind_has_one_class_per_role() -> None:
    class Other:
        pass

    with pytest.raises(TypeError, match="proxy kind 'tcp' is already TCPProxy; not also Other"):
        registers("proxy", "tcp")(Other)
    assert concrete("proxy", "tcp") is proxy.TCPProxy
    assert registers("proxy", "tcp")(proxy.TCPProxy) is proxy.TCPProxy  # registering again is harmless
