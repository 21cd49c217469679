"""PII replacement on the demo's Faker-generated personal data and on hand-made cases."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
from faker import Faker

import winnow


def test_generated_contacts_are_replaced_and_counted():
    fake = Faker("en_US")
    fake.seed_instance(7)
    people = []
    while len(people) < 200:
        ip6 = fake.ipv6()
        if ipaddress.ip_address(ip6).is_global:  # random v6 addresses are often reserved ones
            people.append((fake.email(), fake.ipv4_public(), ip6))
    texts = [f"Write to {e} from {ip4} or {ip6} today." for e, ip4, ip6 in people]
    out = winnow.apply_stage("pii", pa.table({"text": texts}))
    for (email, ip4, ip6), text in zip(people, out.column("text").to_pylist()):
        assert email not in text and ip4 not in text and ip6 not in text
        assert text == "Write to <EMAIL> from <IP_ADDRESS> or <IP_ADDRESS> today."
    assert out.column("pii_emails").to_pylist() == [1] * 200
    assert out.column("pii_ips").to_pylist() == [2] * 200


def test_phones_private_ips_and_things_that_are_not_pii():
    text = (
        "Call +1 415-555-2671 or (020) 7946 0958. Local 192.168.1.10 and ::1 stay; "
        "dates 2024-01-15, versions 3.11.7 and 12345678 are not phones."
    )
    out = winnow.apply_stage("pii", pa.table({"text": [text, "", "no contact"]}))
    cleaned = out.column("text").to_pylist()[0]
    assert cleaned.startswith("Call <PHONE_NUMBER> or <PHONE_NUMBER>. Local 192.168.1.10 and ::1")
    assert "2024-01-15" in cleaned and "3.11.7" in cleaned and "12345678" in cleaned
    assert out.column("pii_phones").to_pylist() == [2, 0, 0]
    assert out.column("keep").to_pylist() == [True, True, True]
