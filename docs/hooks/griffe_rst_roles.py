"""Griffe extension for the site's API pages: Sphinx roles in docstrings become Markdown code spans."""

from __future__ import annotations

import sys
from pathlib import Path

import griffe

sys.path.insert(0, str(Path(__file__).parent))

from rst_roles import roles_to_code  # noqa: E402


class RstRolesToCode(griffe.Extension):
    """Rewrite each loaded object's docstring with :func:`rst_roles.roles_to_code`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = roles_to_code(obj.docstring.value)
