"""The reference cases present beside the checkout (see :mod:`aot.bench.reference_cases`)."""

from aot.bench.reference_cases import list_cases, load_case, read_manifest

CASES = list_cases()

__all__ = ["CASES", "load_case", "read_manifest"]
