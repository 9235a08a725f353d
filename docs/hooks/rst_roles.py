"""Sphinx-style roles in docstrings (``:func:`run_md```, ``:class:`~mlcalc.md.MDSettings```) as Markdown code.

mlcalc's docstrings name code with these roles; Markdown would show them verbatim. :func:`roles_to_code`
turns each into a code span (``~`` keeps the last component, as Sphinx does).
"""

from __future__ import annotations

import re

__all__ = ["roles_to_code"]

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const|ref|term):`(~?)([^`]+)`")


def roles_to_code(text: str) -> str:
    """``text`` with every Sphinx role replaced by a code span of its target."""
    def code(match: re.Match) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return _ROLE.sub(code, text)
