"""The OpenAPI document stays valid and describes every operator and merchant endpoint
with its security requirement; no ``/admin`` route is left undocumented."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate


def test_the_document_validates_and_describes_every_admin_endpoint(client: Any, app: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    validate(spec)  # raises on an invalid document

    schemes = spec["components"]["securitySchemes"]
    assert schemes["operatorToken"] == {
        **schemes["operatorToken"],
        "type": "http",
        "scheme": "bearer",
    }
    assert schemes["merchantKey"]["bearerFormat"] == "kassa_sk_<id>_<secret>"

    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/admin", "/ops"))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert len(routes) >= 25
    for rule, method in routes:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)  # <int(max=…):id> -> {id}
        op = spec["paths"][path][method.lower()]
        assert op["security"], (path, method)
        assert "401" in op["responses"], (path, method)
        wanted = (
            "operatorToken"
            if rule.startswith(("/admin/shops", "/admin/api-keys", "/ops"))
            else "merchantKey"
        )
        assert wanted in {name for requirement in op["security"] for name in requirement}, path

    writes = spec["paths"]["/admin/products/{sku}"]["patch"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= writes["parameters"][1].items()
    imported = spec["paths"]["/admin/catalog/import"]["post"]["requestBody"]["content"]
    assert set(imported) == {"application/json", "text/csv"}
    assert "stripe_api_key" in spec["components"]["schemas"]["ShopCreate"]["properties"]
    assert "stripe_api_key" not in spec["components"]["schemas"]["ShopView"]["properties"]
    # The storefront API needs no credentials and says so by having no security.
    assert "security" not in spec["paths"]["/api/checkout"]["post"]
