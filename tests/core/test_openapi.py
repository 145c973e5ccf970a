from __future__ import annotations

from autogrid.app import create_app
from autogrid.core.config import Settings


def test_every_operation_has_a_docstring_summary_and_declares_the_error_shape(
    settings: Settings,
) -> None:
    schema = create_app(settings).openapi()
    assert "ErrorResponse" in schema["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) > 10
    for path, method, op in operations:
        assert op.get("description"), f"{method} {path} has no docstring"
        assert op["summary"] == op["description"].strip().splitlines()[0].rstrip("."), path
        if path.startswith("/api/v1"):
            refs = str(op.get("responses", {}))
            assert "ErrorResponse" in refs, f"{method} {path} does not declare the error shape"
