"""Voice menus: one module per flow; each step is a pure function of (state, input)."""

from __future__ import annotations
