"""Compile-time scopes: which frame slot each variable name refers to, and what closures capture."""

from __future__ import annotations

from . import ast as A

__all__ = ["FnScope", "Program"]


class FnScope:
    """Variables of one function body; closures chain to the scope they were written in."""

    def __init__(self, parent: FnScope | None, is_closure: bool) -> None:
        self.parent = parent
        self.is_closure = is_closure
        self.blocks: list[list[A.Decl]] = [[]]
        self.nslots = 2  # frame[0] is the run context, frame[1] is `this`
        self.captures: list[tuple[A.Decl | None, A.Decl]] = []
        self.live = 0

    def declare(self, name: str, const: bool = False) -> A.Decl:
        """A new variable in the innermost block, with a fresh slot."""
        decl = A.Decl(name, self.nslots, const)
        self.nslots += 1
        block = self.blocks[-1]
        if all(d.name != name for d in block):
            self.live += 1
        block.append(decl)
        return decl

    def find_local(self, name: str) -> A.Decl | None:
        """The innermost declaration of a name in this function."""
        for block in reversed(self.blocks):
            for decl in reversed(block):
                if decl.name == name:
                    return decl
        return None

    def resolve(self, name: str) -> A.Decl | None:
        """Resolve a name, capturing it from enclosing scopes when this is a closure."""
        decl = self.find_local(name)
        if decl is not None or not self.is_closure or self.parent is None:
            return decl
        outer = self.parent.resolve(name)
        if outer is None:
            return None
        outer.captured = True
        inner = A.Decl(name, self.nslots, outer.const, captured=True)
        self.nslots += 1
        self.blocks[0].append(inner)
        self.captures.append((outer, inner))
        return inner


class Program:
    """A parsed script: top-level statements plus script functions keyed by (name, arity)."""

    def __init__(
        self, body: A.Block, fns: dict[tuple[str, int], A.FnDef], nslots: int, top_decls: list[A.Decl]
    ) -> None:
        self.body = body
        self.fns = fns
        self.nslots = nslots
        self.top_decls = top_decls
