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
"""

from __future__ import annotations

import functools

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import make_op

POOL = "country"
STATE_POOL = "us_state"
CI = "countryinfo 1.0.1 (MIT)"
PYC = "countryinfo 1.0.1 (MIT) + pycountry 26.2.16 (LGPL-2.1-only)"
US = "us 4.0.0 (BSD-3-Clause)"
MIN_POPULATION = 300_000
_ISO_KEYS = ("alpha2", "alpha3", "numeric")


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


SPECS = {
    "capital": """
Capital city.
What is the capital of this country?
Name the country's capital.
Which city is the capital?
Task: return the capital city of the given country, e.g. France -> Paris.
Could you tell me the capital of this country?
Capital, please.
Where is this nation's seat of government? Give the city.
Give the name of the capital city only.
This country's capital is...?
Which city hosts the national government?
Country to capital.
--
Kindly name the city that serves as this country's capital.
What's the main political city, the capital, of this nation?
In which city does this country have its capital?
Capital of the country, just the city name.
--
name the capital city
give the country's capital
say which city is the capital
write the capital of the country
--
name the city that is the national capital
give the seat of government
""",
    "region": """
Continent/region.
Which world region is this country in? (Africa, Americas, Asia, Europe or Oceania)
Name the continent-level region of this country.
What part of the world is this country located in?
Task: return the region: Africa, Americas, Asia, Europe or Oceania.
Could you tell me which region of the world this country belongs to?
Region, please.
Which of the five world regions contains this country?
Give the broad geographic region only.
On which continent is it? Use Americas for North and South America.
Locate the country: Africa, Americas, Asia, Europe, or Oceania?
Country to world region.
--
Kindly say which big region of the globe this nation lies in.
Where on the world map, by region, would you find it?
Which macro-region (Africa/Americas/Asia/Europe/Oceania) is it part of?
Its continent or world region, one word.
--
name the world region of the country
say which continent the country is on
give the country's region
write the part of the world it is in
--
name the large region of the globe it lies in
say where in the world it is
""",
    "subregion": """
Subregion.
Which UN subregion is this country in?
Name the country's subregion, e.g. Western Europe or Eastern Asia.
What is the finer geographic subregion of this country?
Task: return the statistical subregion the country belongs to.
Could you tell me the subregion for this country?
Subregion, please.
Give the sub-continental region, like Northern Africa or South-eastern Asia.
Which part of its continent is it in, by UN subregion?
Country to subregion.
More precisely than the continent: which subregion?
Geographic subregion name only.
--
Kindly state the UN geoscheme subregion of this nation.
Within its continent, which named subregion contains it?
What's the country's sub-continental grouping?
Subregion of the country, as named by the UN.
""",
    "currency_code": """
Currency code.
What is the ISO currency code of this country?
Give the three-letter code of the country's currency.
Which currency code does this country use?
Task: return the ISO 4217 code of the national currency, e.g. Japan -> JPY.
Could you tell me the three-letter currency code?
Currency code, please.
Write the money's code as seen on exchange boards.
Three capital letters for this country's currency?
Country to currency code.
Which ISO 4217 code is used for payments here?
Give the currency abbreviation only.
--
Kindly provide the alphabetic currency code used by this nation.
What three-letter code stands for its money?
Which code would a bank use for this country's currency?
Currency ISO code, nothing else.
--
give the currency code
write the three-letter currency code
name the iso code of its money
return the currency abbreviation
--
give the bank code of its currency
write its money's three-letter code
""",
    "currency": """
Currency.
What currency is used in this country?
Name the country's currency.
Which money do people pay with there?
Task: return the name of the national currency, e.g. Japan -> Yen.
Could you tell me the currency of this country?
Currency name, please.
What is the official money of this nation called?
Give the name of the currency only.
Country to currency.
What would you exchange your money into when visiting?
Which currency is legal tender here?
--
Kindly name the money used in this country.
What do they call their currency?
Which currency would be in your wallet there?
Name of the national currency, just that.
--
name the currency
give the country's currency
say what money is used there
write the name of the currency
--
name the money people pay with there
give the legal tender of the country
""",
    "alpha2": """
Two-letter country code.
What is the ISO alpha-2 code of this country?
Give the country's two-letter code, e.g. France -> FR.
Which two-letter ISO code represents this country?
Task: return the ISO 3166-1 alpha-2 code.
Could you tell me the two-letter country code?
Alpha-2 code, please.
Write the two capital letters that stand for this country.
Country to 2-letter code.
Which pair of letters is its ISO code?
Give the short ISO country code only.
Two-letter abbreviation of the country, as in ISO 3166.
--
Kindly provide the alpha-2 code of this nation.
What two-letter code would appear for it in an ISO table?
Short two-character country code?
ISO code, two letters only.
--
give the two-letter country code
write the iso alpha-2 code
return the country's two-letter abbreviation
name the country's alpha-2 code
--
give the country's two-character iso code
write the short two-letter code
""",
    "alpha3": """
Three-letter country code.
What is the ISO alpha-3 code of this country?
Give the country's three-letter code, e.g. France -> FRA.
Which three-letter ISO code represents this country?
Task: return the ISO 3166-1 alpha-3 code.
Could you tell me the three-letter country code?
Alpha-3 code, please.
Write the three capital letters that stand for this country.
Country to 3-letter code.
Which trio of letters is its ISO code?
Give the long ISO country code only.
Three-letter abbreviation of the country, as used at the Olympics-style scoreboards and in ISO 3166.
--
Kindly provide the alpha-3 code of this nation.
What three-letter code would appear for it in an ISO table?
Three-character country code?
ISO code, three letters only.
--
give the three-letter country code
write the iso alpha-3 code
return the country's three-letter abbreviation
name the country's alpha-3 code
--
give the country's three-character iso code
write the long three-letter code
""",
    "numeric": """
ISO numeric code.
What is the ISO numeric code of this country?
Give the three-digit ISO 3166 number of the country.
Which numeric country code does ISO assign to it?
Task: return the ISO 3166-1 numeric code, e.g. France -> 250.
Could you tell me the country's three-digit ISO number?
Numeric country code, please.
Country to numeric code.
Write the UN M49 / ISO numeric code for this country.
Which three digits identify this country in ISO 3166?
Give the country number only, with leading zeros.
ISO number of the country?
--
Kindly provide the numeric ISO identifier of this nation.
Which three-digit number stands for it in the ISO country list?
Numerical country code, digits only.
What number does ISO 3166-1 give this country?
""",
    "language": """
Official language.
What language is spoken in this country?
Name the country's official language.
Which language do people there speak?
Task: return the main official language, e.g. Japan -> Japanese.
Could you tell me the language of this country?
Language, please.
In which language are this country's laws written?
Give the language name only.
Country to language.
What would you need to learn to talk with locals?
National language?
--
Kindly name the language used officially in this nation.
Which tongue is spoken there?
What's the language of the country?
Official language name, just that.
--
name the official language
give the language spoken there
say what language people speak
write the country's language
--
name the tongue spoken in the country
give the national language
""",
    "language_code": """
Language code.
What is the ISO 639-1 code of this country's language?
Give the two-letter code of the language spoken there, e.g. Japan -> ja.
Which language code goes with this country?
Task: return the lower-case two-letter code of the country's official language.
Could you tell me the language code for this country?
Language code, please.
Country to language tag (two letters).
Which two small letters abbreviate its language?
Give the ISO language code only.
Two-letter code of the national language?
Write the language's ISO 639-1 abbreviation.
--
Kindly provide the short code of the language used in this nation.
What two-letter tag identifies the country's language?
Lower-case language abbreviation for this country?
Language ISO code only.
""",
    "calling_code": """
Calling code.
What is the international dialling code of this country?
Give the country's phone code with a plus sign, e.g. France -> +33.
Which telephone prefix do you dial to call this country?
Task: return the international calling code, starting with +.
Could you tell me the country calling code?
Phone code, please.
Country to dialling code.
What number do you put before a phone number from abroad to reach this country?
Give the telephone country code only.
International prefix for this country?
Write the country's dial code.
--
Kindly provide the international phone prefix of this nation.
Which plus-number do you dial first to phone someone there?
Country dialling prefix, with the plus.
What's the telephone code for calling into this country?
--
give the calling code
write the international dialling code
name the phone prefix of the country
return the country's telephone code
--
give the number to dial before calling there
write its plus-sign phone code
""",
    "neighbour_count": """
Number of neighbouring countries.
How many countries does this country share a land border with?
Count the country's land neighbours.
How many bordering countries does it have?
Task: return the number of countries that touch its land borders, e.g. France -> 8.
Could you tell me how many neighbours this country has?
Neighbour count, please.
With how many nations does it share a border? Answer with a number.
Give the number of adjacent countries.
Border count?
Number of countries it borders by land, as digits.
Count the countries on its frontiers.
--
Kindly count the nations that border this one.
How many land neighbours does it have in total?
Tally the countries adjacent to it.
Neighbouring countries, how many?
--
count the neighbouring countries
give the number of bordering countries
say how many countries it borders
write the number of land neighbours
--
tally the countries on its borders
count its adjacent nations
""",
    "has_neighbours": """
Any land borders?
Does this country share a land border with another country? yes or no.
Does it have land neighbours? Answer yes or no.
Task: yes if at least one country borders it by land, no for countries with no land border.
Could you check whether this country has any land border?
Land border? yes/no
Is it bordered by any other country on land?
Answer no for countries surrounded only by sea, like island nations with no land border.
Can you drive from this country directly into another one? yes/no
Any bordering country at all?
Yes/no: has at least one neighbouring country.
Does this nation touch another nation by land?
--
Kindly say whether the country has a land frontier with anyone.
Is there a country next door by land? yes or no
Does it border at least one other state on land?
Land neighbour exists: yes or no?
""",
    "first_neighbour": """
First neighbour alphabetically.
Which of this country's neighbours comes first in alphabetical order?
Name the alphabetically first country it borders.
List its bordering countries alphabetically and give the first one.
Task: return the neighbouring country whose name sorts first, e.g. France -> Andorra.
Could you tell me the first neighbour of this country in A-Z order?
Alphabetically earliest neighbour, please.
Of the countries sharing a border with it, which name is first in the alphabet?
Give the first bordering country by alphabetical order.
Neighbour that comes first from A to Z?
Sort its neighbours by name: which one is at the top?
Earliest-alphabet bordering nation.
--
Kindly name the neighbouring country that would come first in an alphabetical list.
Among its border countries, which is first alphabetically?
Give the A-Z first of its land neighbours.
First neighbour by name order only.
""",
    "biggest_neighbour": """
Most populous neighbour.
Which neighbouring country has the largest population?
Name the most populous country that borders it.
Of its land neighbours, which has the most people?
Task: return the bordering country with the biggest population, e.g. France -> Germany.
Could you tell me its most populous neighbour?
Biggest neighbour by population, please.
Which bordering nation has the most inhabitants?
Give the neighbour with the highest population.
Most-populated adjacent country?
Among the countries touching it, which is home to the most people?
Largest neighbour in terms of population.
--
Kindly name the neighbouring state with the greatest number of inhabitants.
Which border country is the most heavily populated?
Neighbour with the largest head count?
Most populous bordering nation only.
--
name the most populous neighbouring country
give the neighbour with the most people
say which bordering country has the largest population
write the most populated neighbour
--
name the border country with the most inhabitants
give its biggest neighbour by population
""",
    "population": """
Population in millions.
Roughly how many million people live in this country?
Give the population in millions, rounded to a whole number.
What is the population of this country, in millions?
Task: return the population divided by one million, rounded, e.g. France -> 66.
Could you tell me about how many millions of inhabitants it has?
Population (millions), please.
How many million residents, to the nearest million?
Give the approximate number of inhabitants in millions as digits.
Country to population in millions.
People living there, in millions?
Number of millions of inhabitants.
--
Kindly estimate the population as a whole number of millions.
About how many million people call this country home?
Inhabitants, rounded to millions, digits only.
Population figure in millions of people?
--
give the population in millions
write roughly how many million people live there
say the population rounded to millions
state the number of inhabitants in millions
--
give the head count in millions
write the number of millions of residents
""",
    "populous": """
More than 50 million people?
Does this country have over fifty million inhabitants? yes or no.
Is the population above 50 million?
Task: yes if more than fifty million people live there, otherwise no.
Could you check whether this is a large country by population (over 50 million)?
Big population (50M+)? yes/no
Is it one of the populous nations, with more than fifty million residents?
Answer yes when the country has a population larger than 50 million.
More than 50,000,000 inhabitants? Reply yes or no.
Yes/no: population exceeds fifty million.
Do more than fifty million people live in this country?
Populous country? Say yes if over 50 million.
--
Kindly say whether the country's population tops fifty million.
Is it home to more than 50 million people? yes or no
Over fifty million residents: yes/no?
Has the country a population beyond 50 million?
""",
    "demonym": """
Demonym.
What do you call a person from this country?
Give the demonym, e.g. France -> French.
What is the adjective for people from this country?
Task: return the nationality word for the country's inhabitants.
Could you tell me the nationality adjective?
Demonym, please.
Someone born there is called...?
Give the word for the country's people.
Country to nationality.
Which word describes its citizens, like Spanish or Canadian?
Nationality name only.
--
Kindly give the term used for the people of this nation.
How would you describe a citizen of this country in one word?
What nationality do its inhabitants have?
The people there are called what?
--
give the demonym
write the nationality adjective
name what its people are called
say the word for someone from there
--
give the word for the country's citizens
write the nationality of its people
""",
    "tld": """
Internet domain.
What is this country's internet top-level domain?
Give the country-code domain ending, e.g. France -> .fr.
Which web address ending belongs to this country?
Task: return the ccTLD with its leading dot.
Could you tell me the country's domain suffix?
Top-level domain, please.
Country to internet domain.
Websites from this country end in what?
Give the national domain extension only.
Two-letter web domain of the country, with the dot.
What is its ccTLD?
--
Kindly provide the country-code top-level domain of this nation.
Which dot-suffix marks websites registered there?
Internet country code ending?
Domain extension for the country only.
--
give the country's internet domain
write its top-level domain
name the web address ending of the country
return the country-code domain
--
give the dot-ending used by its websites
write the national web suffix
""",
    "north_south": """
Northern or southern hemisphere?
Is this country in the northern or the southern hemisphere?
Answer "northern" or "southern" for where the country lies (by its centre).
Task: say northern if the country's central latitude is north of the equator, otherwise southern.
Could you tell me which hemisphere, north or south, this country is in?
North or south of the equator?
Hemisphere (northern/southern), please.
Which side of the equator is the country mostly on?
Give northern or southern only.
Latitude side: northern or southern?
Is its centre above or below the equator? Say northern or southern.
Equator check: northern or southern?
--
Kindly state whether the nation sits in the northern or southern half of the globe.
Above or below the equator? Reply northern or southern.
Which of the two latitude hemispheres contains its centre?
North/south hemisphere of the country?
--
say whether it is in the northern or southern hemisphere
tell which side of the equator it is on
give its hemisphere north or south
name the latitude hemisphere
--
say whether it lies above or below the equator
give northern or southern for its position
""",
    "east_west": """
Eastern or western hemisphere?
Is this country in the eastern or the western hemisphere?
Answer "eastern" or "western" for where the country lies (by its centre).
Task: say eastern if the country's central longitude is east of Greenwich, otherwise western.
Could you tell me which hemisphere, east or west, this country is in?
East or west of the prime meridian?
Hemisphere (eastern/western), please.
Which side of the Greenwich meridian is the country on?
Give eastern or western only.
Longitude side: eastern or western?
Is its centre east or west of zero longitude?
Meridian check: eastern or western?
--
Kindly state whether the nation sits in the eastern or western half of the globe.
East or west of Greenwich? Reply eastern or western.
Which of the two longitude hemispheres contains its centre?
East/west hemisphere of the country?
""",
    "in_europe": """
In Europe?
Is this country in Europe? Answer yes or no.
Is it a European country? yes/no
Task: yes if the country's region is Europe, otherwise no.
Could you check whether this country is European?
European? yes/no
Does this country lie on the European continent?
Answer yes for countries in Europe and no for the rest.
Is it part of Europe? Reply yes or no.
Yes/no: located in Europe.
Would you find this country on a map of Europe?
Is the country among the European nations?
--
Kindly say whether this nation belongs to Europe.
Is it located in Europe, yes or no?
European nation: yes/no?
Does the country count as European?
--
say whether the country is in europe
answer yes if it is european
check if the country lies in europe
tell whether it is a european nation
--
say whether it belongs to europe
check if it is a european country
""",
    "uses_euro": """
Uses the euro?
Does this country use the euro? Answer yes or no.
Is the euro its currency? yes/no
Task: yes if the euro is among the country's currencies, otherwise no.
Could you check whether they pay in euros there?
Euro country? yes/no
Is it a member of the eurozone, currency-wise?
Answer yes when the country's money is the euro.
Do people there pay with euros? Reply yes or no.
Yes/no: euro is legal tender.
Would you need euros to shop in this country?
Is the country part of the euro area?
--
Kindly say whether the euro is used as money in this nation.
Does it have the euro as its currency, yes or no?
Eurozone country: yes/no?
Is the euro the local currency there?
""",
    "capital_initial": """
First letter of the capital.
What letter does this country's capital start with?
Give the initial of the capital city, e.g. France -> P.
Which letter begins the name of the capital?
Task: return the first letter of the country's capital city.
Could you tell me the first letter of its capital?
Capital's initial, please.
The capital city's name starts with which letter?
Give only the opening letter of the capital.
Country to capital initial.
First character of the capital's name?
Initial letter of the national capital.
--
Kindly write the letter that the capital city's name begins with.
Which letter opens the name of this country's capital?
Capital city, first letter only.
What is the capital's leading letter?
""",
    "name_letters": """
Letters in the country's name.
How many letters are in this country's name?
Count the letters of the country name (ignore spaces).
Country name length in letters?
Task: return the number of letters in the name as given, e.g. France -> 6.
Could you count the letters in the country's name?
Letter count of the name, please.
How long is the country's name, counting letters only?
Give the number of letters in the name as digits.
Spell the country and count the letters.
Number of alphabetic characters in the name?
Count every letter of the country as written.
--
Kindly tell me how many letters the country's name has.
In how many letters is this country's name spelled?
Letter total of the country name, digits only.
How many letters would you write for this country?
""",
}

STATE_SPECS = {
    "abbr": """
State abbreviation.
What is the two-letter postal abbreviation of this US state?
Give the state's postal code, e.g. Ohio -> OH.
Which two letters stand for this state?
Task: return the USPS two-letter code of the state.
Could you tell me the state's abbreviation?
Postal abbreviation, please.
How is this state abbreviated on an envelope?
Give the two capital letters used for the state.
State to postal code.
Two-letter state code?
Write the state's USPS abbreviation only.
--
Kindly provide the mailing abbreviation for this American state.
What short two-letter form does the post office use for it?
State code, two letters only.
Which abbreviation would follow the city name in a US address?
""",
    "capital": """
State capital.
What is the capital of this US state?
Name the state's capital city.
Which city is this state's capital?
Task: return the capital of the given US state, e.g. Texas -> Austin.
Could you tell me the capital of this state?
State capital, please.
Where does this state's legislature sit? Give the city.
Give the capital city of the state only.
This American state's capital is...?
State to capital.
In which city is the state government based?
--
Kindly name the city that is the capital of this US state.
Which city houses the state capitol?
What's the seat of government of this state?
Capital of the state, just the city name.
""",
    "statehood_year": """
Year of statehood.
In which year did this state join the United States?
Give the year the state was admitted to the Union.
When did it become a US state? Answer with the year.
Task: return the year of admission to the Union, e.g. Texas -> 1845.
Could you tell me the year this state achieved statehood?
Statehood year, please.
What year did this state enter the Union (or ratify the Constitution)?
Give the admission year only.
State to year of statehood.
Year it became a state?
Which year marks the state's admission?
--
Kindly state the year this US state was admitted.
When, by year, did it become part of the United States as a state?
Year of joining the Union, four digits.
Admission to the Union happened in which year?
""",
    "statehood_century": """
Century of statehood.
In which century did this state join the Union? Answer like 19th.
Give the century the state was admitted, e.g. Texas -> 19th.
Was this state admitted in the 18th, 19th or 20th century?
Task: return the ordinal century of the state's admission to the Union.
Could you tell me the century in which it became a state?
Statehood century, please.
Which century saw this state enter the United States?
Give the century of admission only.
State to century of statehood.
Century it became a state?
In what century was it admitted, as an ordinal like 18th?
--
Kindly state the century when this US state joined.
Which hundred-year period, as an ordinal, did its statehood fall in?
Admission century: 18th, 19th or 20th?
What century was this state admitted to the Union?
""",
    "time_zone": """
Time zone.
Which US time zone is this state's capital in?
Name the time zone: Eastern, Central, Mountain, Pacific, Alaska or Hawaii.
What time zone does the state capital use?
Task: return the time zone of the state's capital city, e.g. Ohio -> Eastern.
Could you tell me which time zone this state is in?
Time zone, please.
Which clock zone applies in the capital of this state?
Give the time-zone name only.
State to time zone.
Eastern, Central, Mountain or Pacific?
Which zone would the capital's clocks follow?
--
Kindly name the time zone in force at this state's capital.
What time zone are they on in the capital?
Which of the US time zones covers the state capital?
Time zone of the capital, one word.
""",
    "capital_initial": """
First letter of the state capital.
What letter does this state's capital start with?
Give the initial of the state capital, e.g. Ohio -> C.
Which letter begins the name of the state's capital city?
Task: return the first letter of the US state's capital.
Could you tell me the first letter of the state capital?
State capital's initial, please.
The state's capital starts with which letter?
Give only the opening letter of the state capital.
State to capital initial.
First character of the state capital's name?
Initial letter of the capital of this state.
--
Kindly write the letter that this state's capital begins with.
Which letter opens the name of the state capital?
State capital, first letter only.
What is the leading letter of the state's capital?
""",
}


def register(reg: Registry) -> None:
    """Add the country and US-state pools and their ops."""
    reg.add_pool(country_pool())
    reg.add_pool(state_pool())
    if set(SPECS) != set(ANSWERS) or set(STATE_SPECS) != set(STATE_ANSWERS):
        raise ValueError("country/state ops without spec or answer")
    for key, spec in SPECS.items():
        source = PYC if key in ("currency", "language") else CI
        reg.ops.append(make_op(f"country.{key}", POOL, ANSWERS[key], spec, source=source))
    for key, spec in STATE_SPECS.items():
        reg.ops.append(make_op(f"state.{key}", STATE_POOL, STATE_ANSWERS[key], spec, source=US))
