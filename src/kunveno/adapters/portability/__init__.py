"""People own their data: the complete export of a person (and, later, moving them elsewhere)."""

from kunveno.adapters.portability.export import export_file, write_export

__all__ = ["export_file", "write_export"]
