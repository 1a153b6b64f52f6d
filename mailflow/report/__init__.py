"""The program's report: the public "Libraries Seeking Sisters" list and the staff dashboard."""

from mailflow.report.site import write_report

__all__ = ["write_report"]
