"""Fixtures shared by this project's tests.

The integrator fixtures (``testapp``, ``ansflow_app``, ``make_app``, ``dbsession``,
``redis_url``) come from :mod:`ansflow_pyramid.testing`, the pytest plugin the
package installs.  The backend is chosen by the environment: ``DATABASE_URL`` and
``REDIS_URL`` (the CI script runs the suite once without and once with them).
"""
