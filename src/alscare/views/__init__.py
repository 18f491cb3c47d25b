"""Views of an assessment: the contract's JSON (``contract``), the text a clinician reads
(``text``) and the plan view model the text, the web pages and the PDF share (``plan``).
Computing happens before (``alscare.assess``); views only arrange and word what was computed."""
