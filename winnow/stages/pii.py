"""Personal data: e-mail addresses, IP addresses and phone numbers become placeholder tokens.

E-mail and IPv4 patterns are datatrove's ``PIIFormatter`` ones (as used for FineWeb); like
it, only public IP addresses are replaced by default (``ipaddress``'s ``is_global``), so
``127.0.0.1`` or ``192.168.0.1`` in documentation stay. IPv6 candidates must parse as
addresses. Phone numbers need separators or a leading ``+`` country code, which keeps
dates, versions and plain numbers out. RE2 finds the candidate rows for the whole batch;
Python only rewrites the rows that hold a match.
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.stages.base import Params, RowResult, RowStage, register

EMAIL = (
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9]"
    r"(?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|"
    r"2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|"
    r"[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
IPV6 = (
    r"(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4}){0,6}"
    r"|::(?:[0-9A-Fa-f]{1,4}:?){1,7}"
)
COUNT_COLUMNS = ("pii_emails", "pii_ips", "pii_phones")
PHONE = (
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\b\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}\b"
    r"|\+\d{1,3}[ .-]?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}\b"
)


class PiiParams(Params):
    emails: bool = True
    ips: bool = True
    only_public_ips: bool = True
    phones: bool = True
    email_token: str = "<EMAIL>"
    ip_token: str = "<IP_ADDRESS>"
    phone_token: str = "<PHONE_NUMBER>"


def _is_ip(candidate: str, public_only: bool) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return address.is_global or not public_only


@register
class Pii(RowStage):
    """Replaces personal data in ``text`` and counts it per document; drops nothing."""

    name = "pii"
    ParamsModel = PiiParams
    summary = "replace e-mails, public IPv4/IPv6 addresses and phone numbers with tokens; counts"
    origin = "datatrove PIIFormatter patterns (FineWeb, Penedo et al. 2024) + phone numbers"

    def __init__(self, params=None) -> None:
        super().__init__(params)
        p = self.params
        self._kinds = [
            (name, pattern, re.compile(pattern), token, check)
            for name, on, pattern, token, check in (
                ("pii_emails", p.emails, EMAIL, p.email_token, None),
                ("pii_ips", p.ips, f"{IPV6}|{IPV4}", p.ip_token, self._ip_check),
                ("pii_phones", p.phones, PHONE, p.phone_token, None),
            )
            if on
        ]

    def _ip_check(self, match: str) -> bool:
        return _is_ip(match, self.params.only_public_ips)

    def _substitute(self, compiled: re.Pattern, token: str, check, s: str) -> tuple[str, int]:
        n = 0

        def swap(match: re.Match) -> str:
            nonlocal n
            if check is not None and not check(match.group()):
                return match.group()
            n += 1
            return token

        return compiled.sub(swap, s), n

    def process(self, batch: pa.RecordBatch) -> RowResult:
        text = batch.column("text")
        counts = {name: np.zeros(len(text), dtype=np.int64) for name in COUNT_COLUMNS}
        for name, pattern, compiled, token, check in self._kinds:
            candidates = pc.fill_null(pc.match_substring_regex(text, pattern), False)
            positions = pc.indices_nonzero(candidates).to_numpy()
            if not len(positions):
                continue
            new = []
            for pos, s in zip(positions, pc.filter(text, candidates).to_pylist()):
                replaced, counts[name][pos] = self._substitute(compiled, token, check, s)
                new.append(replaced)
            text = pc.replace_with_mask(text, candidates, pa.array(new, text.type))
        batch = batch.set_column(batch.schema.get_field_index("text"), "text", text)
        for name in COUNT_COLUMNS:
            batch = batch.append_column(name, pa.array(counts[name]))
        return RowResult(batch=batch)
