"""Operations on a bare country name ("France" -> "Paris", "Europe", "EUR", "FR", "33", "yes", ...) and on a bare US
state name ("Ohio" -> "OH", "Columbus", "1803", ...).

Pool "country": the 180 countries and territories in countryinfo with a capital, a region, a currency and at least
300,000 inhabitants (countryinfo's own names, e.g. "Ivory Coast", "Czech Republic").
Pool "us_state": the 50 US states and the District of Columbia (us package).
Figures (population, borders, capitals) are those of the packages' data, frozen at their versions; they are not
checked against the current world (e.g. populations are mostly from about 2014).

Sources and licences
    countryinfo 1.0.1  MIT: the country pool and every country answer (capital, region, subregion, currency code,
                       ISO codes, language code, calling code, borders, population, demonym, top-level domain,
                       latitude/longitude).
    pycountry 26.2.16  LGPL-2.1-only (used as an unmodified library): currency and language names
                       (country.currency, country.language).
    us 4.0.0           BSD-3-Clause (Copyright (c) 2014, Sunlight Labs): the US-state pool and state.* answers.
    python             derived answers (yes/no questions, hemispheres, name lengths, centuries, time-zone names).

Descriptions: training/suite/descriptions/countries.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

import functools

from training.suite.core import Pool, Registry
from training.suite.text import descriptions, make_op

POOL = "country"
STATE_POOL = "us_state"
CI = "countryinfo 1.0.1 (MIT)"
PYC = "countryinfo 1.0.1 (MIT) + pycountry 26.2.16 (LGPL-2.1-only)"
US = "us 4.0.0 (BSD-3-Clause)"
MIN_POPULATION = 300_000
_ISO_KEYS = ("alpha2", "alpha3", "numeric")
DESCRIPTIONS = "countries.txt"


@functools.lru_cache(maxsize=1)
def countries() -> dict[str, dict]:
    """country name -> countryinfo record, for the pool (countryinfo's order)."""
    import countryinfo

    out = {}
    for c in countryinfo.all_countries():
        d = c.info()
        iso = d.get("ISO") or {}
        if d.get("capital") and d.get("region") and d.get("currencies") and all(iso.get(k) for k in _ISO_KEYS) \
                and int(d.get("population") or 0) >= MIN_POPULATION:
            out[d["name"]] = d
    return out


@functools.lru_cache(maxsize=1)
def _by_alpha3() -> dict[str, dict]:
    import countryinfo

    records = (c.info() for c in countryinfo.all_countries())
    return {d["ISO"]["alpha3"]: d for d in records if (d.get("ISO") or {}).get("alpha3")}


def country_pool() -> Pool:
    return Pool(POOL, tuple(countries()), source=CI)


def _field(fn):
    def answer(name: str) -> str | None:
        d = countries().get(name)
        if d is None:
            return None
        out = fn(d)
        return None if out in (None, "") else str(out)
    return answer


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _single(values):
    return values[0] if values and len(values) == 1 else None


def _currency_name(d: dict) -> str | None:
    import pycountry

    code = _single(d.get("currencies"))
    cur = pycountry.currencies.get(alpha_3=code) if code else None
    return cur.name if cur else None


def _language_name(d: dict) -> str | None:
    import pycountry

    code = _single(d.get("languages"))
    lang = pycountry.languages.get(alpha_2=code) if code else None
    return lang.name.split(" (")[0] if lang else None


def _neighbours(d: dict) -> list[dict]:
    return [_by_alpha3()[a] for a in d.get("borders") or [] if a in _by_alpha3()]


def _first_neighbour(d: dict) -> str | None:
    names = sorted(n["name"] for n in _neighbours(d))
    return names[0] if names else None


def _biggest_neighbour(d: dict) -> str | None:
    ns = [n for n in _neighbours(d) if n.get("population")]
    return max(ns, key=lambda n: (int(n["population"]), n["name"]))["name"] if ns else None


def _millions(d: dict) -> str | None:
    pop = int(d["population"])
    return str(round(pop / 1e6)) if pop >= 1_000_000 else None


def _latlng(d: dict, i: int, pos: str, neg: str) -> str | None:
    ll = d.get("latlng") or []
    return None if len(ll) < 2 or ll[i] == 0 else (pos if ll[i] > 0 else neg)


def _tld(d: dict) -> str | None:
    tlds = [t for t in d.get("tld") or [] if t.isascii()]
    return tlds[0] if tlds else None


ANSWERS = {
    "capital": _field(lambda d: d["capital"]),
    "region": _field(lambda d: d["region"]),
    "subregion": _field(lambda d: d.get("subregion")),
    "currency_code": _field(lambda d: _single(d["currencies"])),
    "currency": _field(_currency_name),
    "alpha2": _field(lambda d: d["ISO"]["alpha2"]),
    "alpha3": _field(lambda d: d["ISO"]["alpha3"]),
    "numeric": _field(lambda d: d["ISO"]["numeric"]),
    "language": _field(_language_name),
    "language_code": _field(lambda d: _single(d.get("languages"))),
    "calling_code": _field(lambda d: "+" + d["callingCodes"][0] if d.get("callingCodes") else None),
    "neighbour_count": _field(lambda d: len(d.get("borders") or [])),
    "has_neighbours": _field(lambda d: _yes(bool(d.get("borders")))),
    "first_neighbour": _field(_first_neighbour),
    "biggest_neighbour": _field(_biggest_neighbour),
    "population": _field(_millions),
    "populous": _field(lambda d: _yes(int(d["population"]) > 50_000_000)),
    "demonym": _field(lambda d: (d.get("demonym") or "").split(",")[0]),
    "tld": _field(_tld),
    "north_south": _field(lambda d: _latlng(d, 0, "northern", "southern")),
    "east_west": _field(lambda d: _latlng(d, 1, "eastern", "western")),
    "in_europe": _field(lambda d: _yes(d["region"] == "Europe")),
    "uses_euro": _field(lambda d: _yes("EUR" in d["currencies"])),
    "capital_initial": _field(lambda d: d["capital"][0]),
    "name_letters": _field(lambda d: sum(c.isalpha() for c in d["name"])),
}


# ---- US states ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def states() -> dict[str, object]:
    import us

    return {s.name: s for s in (*us.states.STATES, us.states.DC)}


def state_pool() -> Pool:
    return Pool(STATE_POOL, tuple(states()), source=US)


_TZ = {"America/New_York": "Eastern", "America/Detroit": "Eastern", "America/Indiana/Indianapolis": "Eastern",
       "America/Kentucky/Louisville": "Eastern", "America/Chicago": "Central",
       "America/North_Dakota/Center": "Central", "America/Denver": "Mountain",
       "America/Boise": "Mountain", "America/Phoenix": "Mountain", "America/Los_Angeles": "Pacific",
       "America/Juneau": "Alaska", "America/Anchorage": "Alaska", "Pacific/Honolulu": "Hawaii"}


def _state(fn):
    def answer(name: str) -> str | None:
        s = states().get(name)
        out = None if s is None else fn(s)
        return None if out in (None, "") else str(out)
    return answer


def _century(year: int | None) -> str | None:
    if not year:
        return None
    c = (year - 1) // 100 + 1
    return f"{c}th"


STATE_ANSWERS = {
    "abbr": _state(lambda s: s.abbr),
    "capital": _state(lambda s: s.capital),
    "statehood_year": _state(lambda s: s.statehood_year),
    "statehood_century": _state(lambda s: _century(s.statehood_year)),
    "time_zone": _state(lambda s: _TZ.get(s.capital_tz or "")),
    "capital_initial": _state(lambda s: s.capital[0] if s.capital else None),
}


def register(reg: Registry) -> None:
    """Add the country and US-state pools and their ops."""
    reg.add_pool(country_pool())
    reg.add_pool(state_pool())
    specs = descriptions(DESCRIPTIONS, [*(f"country.{key}" for key in ANSWERS),
                                        *(f"state.{key}" for key in STATE_ANSWERS)])
    for key, fn in ANSWERS.items():
        source = PYC if key in ("currency", "language") else CI
        reg.ops.append(make_op(f"country.{key}", POOL, fn, specs[f"country.{key}"], source=source))
    for key, fn in STATE_ANSWERS.items():
        reg.ops.append(make_op(f"state.{key}", STATE_POOL, fn, specs[f"state.{key}"], source=US))
