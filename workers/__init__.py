"""RQ jobs and their schedules."""

from __future__ import annotations
