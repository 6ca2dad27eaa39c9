"""The browser login AnsFlow's clients and test plan use: Django-admin-style HTML forms.

``GET /admin/login/`` renders a form with a hidden ``csrfmiddlewaretoken`` and sets the
``csrftoken`` cookie; ``POST /admin/login/`` (form-encoded ``username``, ``password``,
``csrfmiddlewaretoken``, optional ``next``) logs the session in and redirects (302);
``POST /admin/logout/`` logs it out.  ``GET /admin/`` shows who is logged in.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from pyramid.config import Configurator
from pyramid.csrf import check_csrf_origin, check_csrf_token, get_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import forget, remember

from ansflow_pyramid.identity.authentication import (
    AuthenticationFailed,
    LoginThrottled,
    authenticate,
)
from ansflow_pyramid.security.csrf import FORM_FIELD, HEADER

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} | AnsFlow</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>AnsFlow administration</h1>
{body}
</body>
</html>
"""


def page(
    title: str, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        PAGE.format(title=escape(title), body=body),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def safe_next(request: Request, target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def login_form(request: Request, error: str = "", status: int = 200, **kw: Any) -> Response:
    action = request.application_url + "/admin/login/"
    next_url = request.params.get("next", "")
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""{message}
<form method="post" action="{escape(action)}">
<input type="hidden" name="{FORM_FIELD}" value="{escape(get_csrf_token(request))}">
<input type="hidden" name="next" value="{escape(next_url)}">
<p><label>Username <input name="username" autocomplete="username" required autofocus
 value="{escape(request.POST.get("username", ""))}"></label></p>
<p><label>Password <input type="password" name="password" autocomplete="current-password"
 required></label></p>
<p><button type="submit">Log in</button></p>
</form>"""
    return page("Log in", body, status=status, **kw)


def csrf_ok(request: Request) -> bool:
    return check_csrf_origin(request, raises=False) and check_csrf_token(
        request, token=FORM_FIELD, header=HEADER, raises=False
    )


def csrf_failure(request: Request) -> Response:
    return page(
        "Forbidden",
        "<p>CSRF verification failed: reload the login page and try again.</p>",
        status=403,
    )


def login_view(context: Any, request: Request) -> Response:
    if request.method != "POST":
        return login_form(request)
    if not csrf_ok(request):
        return csrf_failure(request)
    username = request.POST.get("username", "")
    password = request.POST.get("password", "")
    if not username or not password:
        return login_form(request, "Enter a username and a password.")
    try:
        user = authenticate(request, username, password)
    except LoginThrottled as error:
        return login_form(
            request,
            f"Too many failed attempts. Try again in {error.retry_after} seconds.",
            status=429,
            headers={"Retry-After": str(error.retry_after)},
        )
    except AuthenticationFailed:
        # Django answers 200 with the form again; the transaction has nothing to keep.
        return login_form(request, "Please enter a correct username and password.")
    remember(request, user.id)
    target = safe_next(request, request.POST.get("next"), request.application_url + "/admin/")
    return HTTPFound(location=target)


def logout_view(context: Any, request: Request) -> Response:
    if not csrf_ok(request):
        return csrf_failure(request)
    forget(request)
    return HTTPFound(location=request.application_url + "/admin/login/")


def index_view(context: Any, request: Request) -> Response:
    identity = request.identity
    if identity is None:
        query = urlencode({"next": "/admin/"})
        return HTTPFound(location=f"{request.application_url}/admin/login/?{query}")
    user = identity.user
    body = f"""<p>Logged in as <strong>{escape(user.username)}</strong>.</p>
<ul><li><a href="{escape(request.application_url)}/api/v1/">API</a></li></ul>
<form method="post" action="{escape(request.application_url)}/admin/logout/">
<input type="hidden" name="{FORM_FIELD}" value="{escape(get_csrf_token(request))}">
<button type="submit">Log out</button>
</form>"""
    return page("Home", body)


def includeme(config: Configurator) -> None:
    config.add_api_endpoint(
        "admin.index",
        "/admin",
        index_view,
        methods=("GET",),
        renderer=None,
        openapi=False,
        description="Browser home: who is logged in (HTML).",
    )
    config.add_api_endpoint(
        "admin.login",
        "/admin/login",
        login_view,
        methods=("GET", "POST"),
        renderer=None,
        openapi=False,
        description="Browser login form (HTML; csrfmiddlewaretoken).",
    )
    config.add_api_endpoint(
        "admin.logout",
        "/admin/logout",
        logout_view,
        methods=("POST",),
        renderer=None,
        openapi=False,
        description="Browser logout (HTML form; csrfmiddlewaretoken).",
    )
