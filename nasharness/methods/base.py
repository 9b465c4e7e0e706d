"""What a method receives and returns (defined in :mod:`nasharness.contracts`; kept here for old imports)."""

from ..contracts import SearchContext, SearchOutcome

__all__ = ["SearchContext", "SearchOutcome"]
