"""The schema-level infoset the codec works on: qualified names, simple values, elements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

QName = tuple[str, str]
Value = int | bool | bytes | str


@dataclass(slots=True)
class Element:
    """One element of a decoded document: the schema-level infoset the codec works on.

    ``value`` is the typed simple content (int, bool, bytes, str; lexical strings when
    decoded for XML) or None when the element has element-only/empty content or was
    empty via the second-level EE. Trees are what the XML bridge and the table
    interpreter use; applications use the generated message classes instead.
    """

    qname: QName
    attrs: list[tuple[QName, Value]] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)
    value: Value | None = None

    def child(self, local: str) -> Element | None:
        for c in self.children:
            if c.qname[1] == local:
                return c
        return None

    def iter(self) -> Iterator[Element]:
        yield self
        for c in self.children:
            yield from c.iter()
