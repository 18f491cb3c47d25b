"""The pages' routes: each parses its request, calls one service function and renders one
template. A future ``/api``, ``/fhir`` or ``/cds-services`` router goes beside these (see
``alscare.web.app``)."""

from alscare.web.routes import actions, admin, auth, careplan, pages, visits

ROUTERS = (auth.router, pages.router, visits.router, actions.router, careplan.router,
           admin.router)
