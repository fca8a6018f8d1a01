"""Request parsing that turns every malformed body into a 400, never a 500."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """DRF's JSON parser (strict: no NaN/Infinity) that also refuses pathological nesting.

    Python's json module raises RecursionError, not ValueError, on deeply nested input; DRF
    would let it through as a 500.
    """

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
