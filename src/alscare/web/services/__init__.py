"""The service layer: what a page (or an API endpoint) asks of the library and the store.

Every function takes the app's :class:`~alscare.web.services.context.Services` and the
signed-in :class:`~alscare.web.services.context.Actor`, checks the actor's permission and
writes the audit entry through :mod:`alscare.web.services.gate`, and returns a view model.
"""
