"""The Actor's input: your source's fields, on top of the engine's own (SourceInput: maxItems, maxReadRetries and
the incremental runs' fields). Mirrors .actor/input_schema.json (a test checks that the two agree).

A field whose name says it is a credential (password, apiKey, accessToken), or marked
`Field(json_schema_extra={"isSecret": True})`, is hidden in logs, status messages and the state record, and so is a
URL's password (a DSN); none of them is part of the source's identity, so a rotated password resumes the same run.
"""

from __future__ import annotations

from pydantic import Field

from .engine import SourceInput


class ActorInput(SourceInput):
    database: str = ""  # the example's SQLite file; empty: an example table of exampleRows rows, made in memory
    table: str = Field("items", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    page_size: int = Field(100, ge=1, le=10_000)
    example_rows: int = Field(1000, ge=0, le=1_000_000)
