"""The clinic's web app (FastAPI, server-rendered pages).

Walls: routes (``routes/``) parse the request and render a template; services
(``services/``) call the library (``alscare.assess``, ``alscare.views``) and the store
(``alscare.store``) and return view models (``services/viewmodels.py``); templates get view
models, never rows. Every read and change of patient data passes through
``services/gate.py``, which checks the role and writes the audit entry. Authentication
(``auth/``) gives every route one ``Actor`` from a session cookie or a bearer token.
"""
