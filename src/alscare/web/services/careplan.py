"""The printable care plan: the patient page's view model (so the same plan view model as the
text report) rendered by the print template, and as a PDF by WeasyPrint (HTML and CSS to PDF,
SVG charts included) from that same HTML. WeasyPrint fetches nothing from the network: only
the package's own static files."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.request import url2pathname

STATIC = Path(__file__).resolve().parents[1] / "static"


@lru_cache(maxsize=1)
def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class PackagedFiles(URLFetcher):
        """Only files under the package's static folder."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            path = Path(url2pathname(url.removeprefix("file:").split("?")[0])).resolve()
            if not url.startswith("file:") or not path.is_relative_to(STATIC):
                raise ValueError(f"not fetched: {url} (the care plan uses packaged files only)")
            return super().fetch(url, headers)

    return PackagedFiles(allowed_protocols={"file"})


def pdf(html: str) -> bytes:
    """The care plan's HTML as PDF bytes."""
    from weasyprint import HTML

    return HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=_fetcher()).write_pdf()
