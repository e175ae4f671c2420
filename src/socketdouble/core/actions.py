"""What a conversation asks the socket layer to do."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Action", "Close", "Reset", "Send", "ShutdownWrite", "Sleep"]


@dataclass(frozen=True)
class Send:
    data: bytes

    def __str__(self) -> str:
        return f"send({self.data!r})"


@dataclass(frozen=True)
class Sleep:
    seconds: float

    def __str__(self) -> str:
        return f"sleep({self.seconds})"


@dataclass(frozen=True)
class Close:
    def __str__(self) -> str:
        return "close()"


@dataclass(frozen=True)
class Reset:
    def __str__(self) -> str:
        return "reset()"


@dataclass(frozen=True)
class ShutdownWrite:
    """Half-close: send FIN, keep reading."""

    def __str__(self) -> str:
        return "shutdown_write()"


Action = Send | Sleep | Close | Reset | ShutdownWrite
