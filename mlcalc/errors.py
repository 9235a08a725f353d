"""mlcalc's own errors (bad input, a refused operation) and one-line descriptions of errors for the CLI.

:class:`MLCalcError` is the base of the errors mlcalc raises on purpose; most input checks
raise ``ValueError``/``FileNotFoundError`` (subclasses of both exist where a caller may
catch either). :func:`describe` turns any exception into one line and says whether it
comes from the input (bad values, files, disk) or looks like a bug.
"""

from __future__ import annotations

__all__ = ["MLCalcError", "FolderInUseError", "OutputExistsError", "UnsupportedByModelError", "check_resume_or_overwrite",
           "describe"]


class MLCalcError(Exception):
    """A problem with the user's input, files or environment, not a bug; its message is one line."""


class FolderInUseError(MLCalcError):
    """A run folder is being written by another live process (its lock is held)."""


class UnsupportedByModelError(MLCalcError, NotImplementedError):
    """The model given cannot do what was asked (e.g. expose its representations); the message names the kind."""


class OutputExistsError(MLCalcError, FileExistsError):
    """An output already holds results that would be replaced; the message says how to continue or overwrite."""


def check_resume_or_overwrite(resume: bool, overwrite: bool, what: str = "run") -> None:
    """ValueError when both are asked for: ``resume`` continues the earlier ``what``, ``overwrite`` deletes it."""
    if resume and overwrite:
        raise ValueError(f"--resume (resume=True) continues the {what} already there and --overwrite "
                         "(overwrite=True) deletes it: give one of them, not both")


#: exception types whose message describes bad input (file, value, disk), not a bug
_INPUT_ERRORS = (MLCalcError, ValueError, OSError, ImportError)


def describe(err: BaseException) -> tuple[str, bool]:
    """``(one line describing err, whether it comes from the input)``.

    Input errors: :class:`MLCalcError`, ``ValueError`` (pydantic's ``ValidationError``
    included), ``OSError`` (missing file, full or read-only disk: the file is named),
    ``ImportError`` (a missing optional package) and YAML errors (the line is named).
    Anything else is described as unexpected.
    """
    yaml_line = _yaml_problem(err)
    if yaml_line is not None:
        return yaml_line, True
    if isinstance(err, OSError) and err.strerror:
        names = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        text = f"{err.strerror}: {names}" if names else err.strerror
    else:
        text = str(err) or type(err).__name__
    text = " ".join(text.split())  # one line
    if isinstance(err, _INPUT_ERRORS):
        return text, True
    if _failed_write(err):
        return f"a file could not be written (full or read-only disk?): {text}", True
    return f"unexpected {type(err).__name__}: {text}", False


#: what torch's file writer (checkpoints, torch.save) says when a write fails
_WRITE_FAILURES = ("file write failed", "unexpected pos", "iostream error", "PytorchStreamWriter failed")


def _failed_write(err: BaseException) -> bool:
    """Whether ``err`` (or what it was raised from) is a failed file write, as torch reports a full disk."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, RuntimeError) and any(s in str(err) for s in _WRITE_FAILURES):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _yaml_problem(err: BaseException) -> str | None:
    """'YAML syntax error at line L, column C: problem' for a PyYAML error (None: not one)."""
    if not type(err).__module__.startswith("yaml"):
        return None
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    return f"YAML syntax error{where}: {' '.join(str(problem).split())}"
