"""A browser-like HTTP client for dashboard tests without a browser: it keeps cookies, reads
the CSRF token from the last page it got, and sends forms the way a browser does."""

import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


class DashboardClient:
    def __init__(self, base_url: str, ca_certs: str | None = None) -> None:
        self.base_url = base_url
        self.ca_certs = ca_certs  # over https: the file of the hub's certificate authority
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self._http = AsyncHTTPClient()

    async def request(
        self,
        method: str,
        path: str,
        form: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        """One request, no redirect followed. Forms carry the CSRF token unless `csrf` is
        False (or the form has its own `_csrf`)."""
        body = None
        if form is not None or method in ("POST", "PUT", "PATCH", "DELETE"):
            fields = dict(form or {})
            if csrf and self.csrf and "_csrf" not in fields:
                fields["_csrf"] = self.csrf
            body = urlencode(fields)
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        all_headers.update(headers or {})
        response = await self._http.fetch(
            self.base_url + path,
            method=method,
            body=body,
            headers=all_headers,
            follow_redirects=False,
            raise_error=False,
            request_timeout=15,
            ca_certs=self.ca_certs,
        )
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if not morsel.value:  # a cleared cookie
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if match := CSRF_FIELD.search(response.body.decode(errors="replace")):
            self.csrf = match[1]
        return response

    async def get(self, path: str) -> HTTPResponse:
        return await self.request("GET", path)

    async def post(
        self, path: str, form: dict[str, Any] | None = None, **options: Any
    ) -> HTTPResponse:
        return await self.request("POST", path, form, **options)

    async def sign_in(self, email: str, password: str) -> HTTPResponse:
        await self.get("/dashboard/login")
        response = await self.post("/dashboard/login", {"email": email, "password": password})
        assert response.code == 302, response.body
        return response
