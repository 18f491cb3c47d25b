"""alscare's own FHIR definitions as FHIR resources (issue 12): the CodeSystem of its local
codes and one StructureDefinition per extension, under the clinic's namespace
(``alscare.exporters.fhir.fhir_base``), so that a receiving system can resolve every
``https://<base>/CodeSystem/alscare`` code and ``<base>/StructureDefinition/<name>`` URL an
export carries. Written by ``alscare fhir definitions --out DIR``; the default namespace's
files are kept in ``docs/fhir-definitions/`` (a test checks they are current)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alscare.exporters.fhir import code_table

VALUE_TYPES = {"boolean": "valueBoolean", "Coding": "valueCoding", "code": "valueCode",
               "date": "valueDate", "decimal": "valueDecimal", "dateTime": "valueDateTime",
               "string": "valueString"}


def code_system() -> dict[str, Any]:
    """Every code of the alscare CodeSystem: Observation codes and ``<field>.<value>`` codes."""
    t = code_table()
    concepts = [{"code": s["code"], "display": s["display"]} for s in t["obs"].values()
                if s["system"] == t["alscare"]]
    concepts.append({"code": "gene", "display": "Gene tested"})
    for field, values in t["value_sets"].items():
        concepts += [{"code": f"{field}.{v}", "display": f"{field.replace('_', ' ')}: "
                      f"{v.replace('_', ' ')}"} for v in values]
    return {
        "resourceType": "CodeSystem", "id": "alscare", "url": t["alscare"],
        "name": "AlscareCodes", "title": "alscare local codes", "status": "draft",
        "experimental": False, "publisher": "alscare",
        "description": "Codes alscare uses where no verified standard code exists (see "
                       "docs/fhir.md); value codes are <field>.<value> of the canonical "
                       "patient record.",
        "caseSensitive": True, "content": "complete", "count": len(concepts),
        "concept": concepts,
    }


def _name(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def structure_definition(key: str) -> dict[str, Any]:
    """The StructureDefinition of one alscare extension (``extension_info`` in the table)."""
    t = code_table()
    info = t["extension_info"][key]
    url = t["ext"][key]
    sid = url.rsplit("/", 1)[-1]
    elements: list[dict[str, Any]] = [
        {"id": "Extension", "path": "Extension", "short": info["short"],
         "definition": info["short"]},
    ]
    if info["value"] == "complex":
        elements.append({"id": "Extension.extension", "path": "Extension.extension", "min": 1,
                         "short": "parts: " + ", ".join(info["parts"])})
        elements.append({"id": "Extension.url", "path": "Extension.url", "fixedUri": url})
        elements.append({"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"})
    else:
        elements.append({"id": "Extension.extension", "path": "Extension.extension",
                         "max": "0"})
        elements.append({"id": "Extension.url", "path": "Extension.url", "fixedUri": url})
        elements.append({"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
                         "type": [{"code": info["value"]}]})
    return {
        "resourceType": "StructureDefinition", "id": sid, "url": url, "name": _name(key),
        "title": sid, "status": "draft", "publisher": "alscare", "description": info["short"],
        "kind": "complex-type", "abstract": False,
        "context": [{"type": "element", "expression": on} for on in info["context"]],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint", "differential": {"element": elements},
    }


def definitions() -> dict[str, dict[str, Any]]:
    """File name -> resource: the CodeSystem and every alscare extension's definition."""
    t = code_table()
    out = {"CodeSystem-alscare.json": code_system()}
    for key, url in t["ext"].items():
        if url.startswith(t["base"]):
            sd = structure_definition(key)
            out[f"StructureDefinition-{sd['id']}.json"] = sd
    return out


def validate(resources: dict[str, dict[str, Any]]) -> None:
    """Raise pydantic.ValidationError if any definition is not valid FHIR (R4B models)."""
    from fhir.resources.R4B import get_fhir_model_class

    for res in resources.values():
        get_fhir_model_class(res["resourceType"]).model_validate(res)


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    resources = definitions()
    validate(resources)
    paths = []
    for name, res in resources.items():
        path = folder / name
        path.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
