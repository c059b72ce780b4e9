"""Errors the config package raises: one kind, always naming the file and where in it.

The tree::

    ConfigError        the configuration cannot be used; carries .source, .key, .line
                       and .column, and str() is the one line an operator sees

The message format is ``<source>: <where>: <what was expected, and what was found>``,
where ``<where>`` is a dotted key path (``cache.max_size``), ``line N, column M`` for
a YAML syntax error, or nothing when the whole file is at fault::

    castedge.yaml: cache.max_size: expected a size such as '200GB', got 'lots'
    castedge.yaml: line 3, column 9: invalid YAML: mapping values are not allowed here
    castedge.yaml: cannot read: [Errno 2] No such file or directory

The CLI prints ``str(error)`` and exits non-zero; an operator never sees a traceback
(Starlette's ``config.py`` does the same). Messages never contain a secret's value.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """Signals a configuration that cannot be read or does not validate."""

    def __init__(
        self,
        source: str,
        key: str | None,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.source = source
        self.key = key
        self.message = message
        self.line = line
        self.column = column
        super().__init__(source, key, message)

    def __str__(self) -> str:
        if self.key:
            where = f"{self.key}: "
        elif self.line is not None:
            at_column = f", column {self.column}" if self.column is not None else ""
            where = f"line {self.line}{at_column}: "
        else:
            where = ""
        return f"{self.source}: {where}{self.message}"
