"""Checking a password again, as signing in checks it, without signing in."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from kunveno.adapters.passwords import Argon2PasswordHasher
from kunveno.application.errors import Unauthenticated
from kunveno.bootstrap import Container, build
from kunveno.settings import Settings

PASSWORD = "correct horse battery staple"


class CountingHasher(Argon2PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8)
        self.verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return super().verify(password_hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def node(hasher: CountingHasher) -> Iterator[Container]:
    container = build(Settings(database_url="memory://"), hasher=hasher)
    yield container
    container.close()


@pytest.fixture
def ada(node: Container) -> UUID:
    return node.accounts.register("ada", PASSWORD, None, None).value


def test_the_right_password_passes_and_nothing_is_logged(node: Container, ada: UUID) -> None:
    head = node.projections.head()

    node.accounts.verify_password(ada, PASSWORD)

    assert node.projections.head() == head  # no token issued, none revoked


def test_a_wrong_password_is_refused_and_nothing_is_logged(node: Container, ada: UUID) -> None:
    head = node.projections.head()

    with pytest.raises(Unauthenticated):
        node.accounts.verify_password(ada, PASSWORD + "!")

    assert node.projections.head() == head


def test_an_unknown_person_is_refused_after_the_same_work(
    node: Container, ada: UUID, hasher: CountingHasher
) -> None:
    with pytest.raises(Unauthenticated):
        node.accounts.verify_password(uuid4(), PASSWORD)

    assert hasher.verified == 1  # a hash was checked all the same: timing tells nothing
