"""URLs as keys: one canonical form for the variants of the same address, and the host with
its parent domains (for block lists where a listed domain covers its subdomains)."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def host_of(url: str) -> str:
    """The lower-cased host of ``url`` (IDN as punycode), without ``www.``; "" if none."""
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""
    host = _punycode(host.rstrip("."))
    return host[4:] if host.startswith("www.") else host


def domains_of(host: str) -> list[str]:
    """The host and each parent domain: ``a.b.c`` → ``a.b.c``, ``b.c``, ``c``."""
    parts = host.split(".") if host else []
    return [".".join(parts[i:]) for i in range(len(parts))]


def normalize_url(url: str) -> str:
    """The address without what does not change the page: scheme, ``www.``, the default
    port, the host's case (IDN as punycode), a trailing slash, the fragment, ``utm_*``
    parameters and the order of the query parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        port = parts.port
    except ValueError:  # not a URL: compared as it is
        return url
    host = host_of(url)
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=~-._") or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("utm_")]  # fmt: skip
    tail = f"?{urlencode(sorted(query))}" if query else ""
    return f"{host}{'' if path == '/' else path}{tail}"


def _punycode(host: str) -> str:
    host = host.lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
