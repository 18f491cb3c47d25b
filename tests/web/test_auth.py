"""Sign-in, sessions, CSRF, throttling, security headers and API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from alscare import accounts
from alscare.store.engine import writing
from alscare.store.tables import web_sessions
from alscare.web.auth import COOKIE, SECURE_COOKIE
from tests.web.conftest import PASSWORD, csrf_of, login, make_site


def test_pages_refuse_requests_without_a_login(site, patient_ids):
    c = site.client()
    pid = patient_ids[0]
    for path in ["/", "/worklist", f"/patients/{pid}", f"/patients/{pid}/careplan",
                 f"/patients/{pid}/careplan.pdf", f"/patients/{pid}/visits/new",
                 f"/patients/{pid}/versions/1", "/tasks", "/cohort", "/admin/users",
                 "/admin/audit", "/admin/settings"]:
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 401, path
        # the sign-in page (which only echoes the address asked for), no patient data
        assert 'action="/login"' in r.text
        assert patient_ids[1] not in r.text and "ALSFRS" not in r.text, path
    for path in [f"/patients/{pid}/visits/new", f"/patients/{pid}/plan/acp.discuss",
                 "/admin/users/add", "/logout"]:
        r = c.post(path, data={"status": "accepted"}, follow_redirects=False)
        assert r.status_code in (401, 403), path
        assert "SYN" not in r.text


def test_api_style_requests_get_json_401(site):
    r = site.client().get("/worklist", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"detail": "the API token is unknown, revoked or expired"}


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(site):
    c = site.client()
    r = login(c, "clin")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")][0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP in this test; see the HTTPS test
    assert c.get("/worklist").status_code == 200
    token = c.cookies[COOKIE]
    page = c.get("/worklist").text
    assert c.post("/logout", follow_redirects=False).status_code == 403  # no CSRF token
    r = c.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    stale = site.client()
    stale.cookies.set(COOKIE, token)
    assert stale.get("/worklist").status_code == 401


def test_secure_cookie_behind_tls(tmp_path):
    """Over HTTPS (as the TLS proxy reports it) the cookie is Secure with the __Host- prefix,
    and HSTS is sent; forcing --secure-cookies does the same whatever the scheme says."""
    for forced in (None, True):
        s = make_site(str(tmp_path / f"c{forced}.db"), patients=2, secure_cookies=forced)
        c = s.client(base_url="https://testserver")
        r = login(c, "clin")
        cookie = [h for h in r.headers.get_list("set-cookie")
                  if h.startswith(SECURE_COOKIE + "=")][0]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "strict-transport-security" in c.get("/worklist").headers


def test_new_session_at_every_sign_in(site):
    """Session fixation: a session id planted before signing in is not the one used after."""
    c = site.client()
    c.cookies.set(COOKIE, "planted-by-an-attacker", domain="testserver.local")
    login(c, "clin")
    assert c.cookies[COOKIE] != "planted-by-an-attacker"
    first = c.cookies[COOKIE]
    login(c, "clin")  # signing in again replaces (and ends) the session the browser had
    assert c.cookies[COOKIE] != first
    old = site.client()
    old.cookies.set(COOKIE, first)
    assert old.get("/worklist").status_code == 401


def _age_sessions(site, **delta):
    """Every session as if its last request were ``delta`` ago."""
    with writing(site.services.engine) as conn:
        conn.execute(update(web_sessions).values(
            last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(**delta)))


def test_idle_and_absolute_session_expiry(tmp_path):
    s = make_site(str(tmp_path / "c.db"), patients=2, session_idle_minutes=30,
                  session_max_hours=12)
    c = s.client("clin")
    assert c.get("/worklist").status_code == 200
    _age_sessions(s, minutes=31)
    r = c.get("/worklist")
    assert r.status_code == 401 and "session has ended" in r.text
    c = s.client("clin")
    with writing(s.services.engine) as conn:
        conn.execute(update(web_sessions).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert c.get("/worklist").status_code == 401


def test_login_form_needs_its_csrf_token(site):
    c = site.client()
    c.get("/login")
    r = c.post("/login", data={"username": "clin", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403 and COOKIE not in c.cookies


def test_wrong_password_then_throttling(tmp_path):
    s = make_site(str(tmp_path / "c.db"), patients=2)
    c = s.client()
    for _ in range(5):
        assert login(c, "clin", "wrong password!").status_code == 401
    r = login(c, "clin")  # the right password, but too many failures just now
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    assert COOKIE not in c.cookies
    assert login(c, "clin2").status_code == 303  # another user is not locked out
    from alscare.store import audit

    actions = [e["action"] for e in audit.entries(s.url)]
    assert actions.count("login.failed") == 5 and "login.throttled" in actions
    assert all("wrong password" not in str(e["detail"]) for e in audit.entries(s.url))


def test_throttling_by_address(tmp_path):
    s = make_site(str(tmp_path / "c.db"), patients=2, throttle_per_ip=3)
    c = s.client()
    for name in ("a", "b", "c"):
        login(c, name, "nope nope nope")
    assert login(c, "clin").status_code == 429


def test_disabled_user_is_signed_out(site):
    accounts.add_user(site.url, "temp", PASSWORD, "clinician")
    c = site.client("temp")
    assert c.get("/worklist").status_code == 200
    accounts.disable_user(site.url, "temp")
    assert c.get("/worklist").status_code == 401
    assert login(site.client(), "temp").status_code == 401


def test_no_open_redirect_after_sign_in(site):
    c = site.client()
    page = c.get("/login?next=//evil.example/x")
    assert 'value="/"' in page.text
    r = c.post("/login", data={"username": "clin", "password": PASSWORD,
                               "csrf_token": csrf_of(page.text),
                               "next": "https://evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_security_headers(site, patient_ids):
    c = site.client("clin")
    for path in ["/login", "/worklist", f"/patients/{patient_ids[0]}", "/static/css/app.css"]:
        h = c.get(path).headers
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert (h.get("cache-control") == "no-store") == (not path.startswith("/static"))


def test_pages_have_no_inline_script_or_style(site, patient_ids):
    import re

    c = site.client("clin")
    for path in ["/login", "/worklist", f"/patients/{patient_ids[0]}",
                 f"/patients/{patient_ids[0]}/visits/new", "/tasks"]:
        html = c.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
        assert " on" + "click=" not in html


def test_bearer_token_acts_with_its_users_role(site):
    accounts.add_user(site.url, "ehr-bridge", PASSWORD, "researcher")
    token = accounts.create_api_token(site.url, "ehr-bridge", "tests")
    c = site.client()
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/cohort", headers=auth).status_code == 200
    assert c.get("/worklist", headers=auth).status_code == 403
    assert c.post("/patients/x/plan/y", headers=auth).status_code == 403  # no CSRF needed,
    # but the role decides
    accounts.disable_user(site.url, "ehr-bridge")
    assert c.get("/cohort", headers=auth).status_code == 401


def test_static_files_are_vendored_with_licences():
    from pathlib import Path

    import alscare.web

    static = Path(alscare.web.__file__).parent / "static"
    assert (static / "vendor/htmx/htmx.min.js").stat().st_size > 10_000
    assert "Zero-Clause BSD" in (static / "vendor/htmx/LICENSE").read_text()
