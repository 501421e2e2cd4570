"""The catalogue of joint computations: what each program computes, reveals, and accepts.

Pure: no I/O, no clock, and no MPyC import (MPyC parses ``sys.argv`` when imported; the party
subprocess imports it and hands its runtime to a program's ``mpc`` coroutine). Each
:class:`Program` carries

- ``clear(inputs, params)``: the computation in the clear over every party's input, the
  reference the MPC version must equal exactly (results are JSON-able dicts);
- ``mpc(runtime, my_input, params)``: the coroutine every party runs inside MPyC;
- ``sha256``: a digest of the program's id, version, constants and the source text of the
  functions that implement it, so parties can refuse to run a job against different code.

What is revealed, and to whom
-----------------------------
Every result is revealed to every party (and is meant to be recorded publicly by the caller).
MPyC's protocols are Shamir secret sharing with threshold ``t = (m-1)//2``: privacy holds against
up to ``t`` *passively* corrupted (honest-but-curious) parties. With two parties ``t`` would be 0
— every share equals the secret — so MPyC programs need at least three parties; the only
two-party program is ``psi``, which uses openmined-psi instead. A party that deviates from the
protocol (malicious security) can make the result wrong and can learn more than the result:
MPyC does not protect against that.

The ``values`` programs (sum, mean, variance, min, max, argmin, argmax, threshold) first reduce
each party's list locally (its subtotal, its count, its minimum, ...) and secret-share only that,
so their cost does not grow with the number of values and the number of values a party holds is
not revealed — except by ``mean`` and ``variance``, which reveal the *total* count ``N`` (with
three parties that is the sum of the other two counts). ``intersection-size`` reveals each party's
set size (MPyC needs the input shapes). Per-program details are in each description.

Input limits (:func:`check_inputs`)
-----------------------------------
- ``values``: a list of 1..100,000 integers ``v`` with ``-2**31 < v < 2**31`` (not booleans).
- ``set``: a list of distinct, non-empty strings of at most 256 UTF-8 bytes without control
  characters (U+0000..U+001F, U+007F; so the ``"\\n"``-joined digest of ``psi`` is unambiguous);
  at most 500 items for ``intersection-size`` (its cost is quadratic in the set sizes: about
  2.6 s for three parties with 200 items each on a 2-core machine, 11 s with 500) and 50,000
  for ``psi`` (about 0.3 ms per item and role: some 15 s for 50,000 each).
- at most 10 parties (MPyC's pseudorandom secret sharing grows as C(m, t)).
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from accord.compute import psi
from accord.errors import InvalidRequest, NotFound

VALUE_BOUND = 2**31
"""Values ``v`` satisfy ``-VALUE_BOUND < v < VALUE_BOUND``."""
MAX_VALUES = 100_000
MAX_ITEM_BYTES = 256
MAX_INTERSECTION_ITEMS = 500
MAX_PSI_ITEMS = 50_000
MAX_PARTIES = 10
LIMIT_BOUND = 2**53
"""``threshold``'s ``limit`` satisfies ``-LIMIT_BOUND <= limit <= LIMIT_BOUND``."""

MPYC_SEC_PARAM = 40
"""MPyC's statistical security parameter ``k`` (its ``-K`` option; MPyC's default is 30).

Comparisons leak with probability about 2**-k, and ``intersection-size``'s zero test errs (counts
a non-member) with probability 2**-k per item. Every party must use the same value.
"""

# Bit lengths of the secure integers. A secint of l bits holds values in [-2**(l-1), 2**(l-1));
# comparisons need the *difference* of two operands to fit.
_SUM_BITS = 64  # |sum| < 2**31 * 100_000 * 10 < 2**51; threshold's sum - limit < 2**54
_VARIANCE_BITS = 110  # N*Σx² < 2**20 * 2**62 * 2**20 = 2**102
_COMPARE_BITS = 34  # differences of two values are < 2**32 in absolute value
_HASH_BITS = 120  # items hash to [0, 2**120): collisions negligible for sets of <= 500
_HASH_FIELD_BITS = 128  # secint whose prime field (> 2**170) holds the hashes

Json = dict[str, Any]


@dataclass(frozen=True)
class ParamSpec:
    """One integer parameter of a program."""

    description: str
    minimum: int
    maximum: int
    required: bool = True


@dataclass(frozen=True)
class Outcome:
    """What a party's run produced: the public ``result`` and, for ``psi``, its ``private`` part.

    ``private`` is for the party's own node only (never for a ledger).
    """

    result: Json
    private: Json | None = None


ClearFunction = Callable[[Sequence[Any], Mapping[str, Any]], Json]
MpcFunction = Callable[[Any, Any, Mapping[str, Any]], Awaitable[Outcome]]
"""``mpc(runtime, this party's checked input, checked params)``; every party calls it."""


@dataclass(frozen=True)
class Program:
    id: str
    version: int
    description: str
    input_kind: Literal["values", "set"]
    min_parties: int
    max_parties: int
    max_items: int
    params: Mapping[str, ParamSpec]
    clear: ClearFunction
    mpc: MpcFunction
    engine: Literal["mpyc", "openmined-psi"]
    sha256: str = field(default="")

    def summary(self) -> Json:
        """A JSON-able description (for listings and job records)."""
        return {
            "id": self.id,
            "version": self.version,
            "sha256": self.sha256,
            "description": self.description,
            "inputKind": self.input_kind,
            "minParties": self.min_parties,
            "maxParties": self.max_parties,
            "maxItemsPerParty": self.max_items,
            "params": {
                name: {
                    "type": "integer",
                    "description": spec.description,
                    "minimum": spec.minimum,
                    "maximum": spec.maximum,
                    "required": spec.required,
                }
                for name, spec in self.params.items()
            },
            "engine": self.engine,
        }


def program_digest(
    program_id: str,
    version: int,
    constants: Mapping[str, object],
    implementation: Sequence[Callable[..., Any]],
) -> str:
    """SHA-256 (hex) of the canonical text naming a program and the source that implements it.

    The text is ``accord compute program v1``, the id, the version, the constants sorted by name
    and, for each function in order, its qualified name and ``inspect.getsource`` text (line
    endings normalized to ``\\n``). It is the same on every machine running the same accord code.
    """
    lines = [
        "accord compute program v1",
        f"id: {program_id}",
        f"version: {version}",
    ]
    lines.extend(f"constant {name} = {constants[name]!r}" for name in sorted(constants))
    for function in implementation:
        source = inspect.getsource(function).replace("\r\n", "\n")
        lines.append(f"--- {function.__module__}.{function.__qualname__}")
        lines.append(source)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Shared pieces of the computations


def _fraction_result(numerator: int, denominator: int) -> Json:
    """An exact value as a reduced fraction (denominator > 0) plus its nearest float."""
    value = Fraction(numerator, denominator)
    return {
        "numerator": value.numerator,
        "denominator": value.denominator,
        "value": float(value),
    }


def _flatten(inputs: Sequence[Sequence[int]]) -> list[int]:
    return [v for values in inputs for v in values]


# ---------------------------------------------------------------------------------------------
# sum


def _sum_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    return {"sum": sum(_flatten(inputs))}


async def _sum_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_SUM_BITS)
    subtotals = mpc.input(secint(sum(values)))
    total = await mpc.output(mpc.sum(subtotals))
    return Outcome({"sum": int(total)})


# ---------------------------------------------------------------------------------------------
# mean


def _mean_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    values = _flatten(inputs)
    return _fraction_result(sum(values), len(values))


async def _mean_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_SUM_BITS)
    shares = mpc.input([secint(sum(values)), secint(len(values))])
    total = mpc.sum([subtotal for subtotal, _ in shares])
    count = mpc.sum([n for _, n in shares])
    total, count = await mpc.output([total, count])
    return Outcome(_fraction_result(int(total), int(count)))


# ---------------------------------------------------------------------------------------------
# variance (population): (N·Σx² − (Σx)²) / N²


def _variance_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    values = _flatten(inputs)
    n = len(values)
    total = sum(values)
    squares = sum(v * v for v in values)
    return _fraction_result(n * squares - total * total, n * n)


async def _variance_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_VARIANCE_BITS)
    local = [secint(sum(values)), secint(sum(v * v for v in values)), secint(len(values))]
    shares = mpc.input(local)
    total = mpc.sum([s[0] for s in shares])
    squares = mpc.sum([s[1] for s in shares])
    count = mpc.sum([s[2] for s in shares])
    # Only the numerator and N are opened: Σx² and Σx stay secret.
    numerator, n = await mpc.output([count * squares - total * total, count])
    return Outcome(_fraction_result(int(numerator), int(n) * int(n)))


# ---------------------------------------------------------------------------------------------
# min, max, argmin, argmax


def _min_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    return {"min": min(_flatten(inputs))}


async def _min_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_COMPARE_BITS)
    minima = mpc.input(secint(min(values)))
    return Outcome({"min": int(await mpc.output(mpc.min(minima)))})


def _max_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    return {"max": max(_flatten(inputs))}


async def _max_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_COMPARE_BITS)
    maxima = mpc.input(secint(max(values)))
    return Outcome({"max": int(await mpc.output(mpc.max(maxima)))})


def _argmin_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    minima = [min(values) for values in inputs]
    return {"index": minima.index(min(minima))}  # list.index: the first (lowest) index on ties


async def _argmin_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_COMPARE_BITS)
    minima = mpc.input(secint(min(values)))
    index, _ = mpc.argmin(minima)  # MPyC: the first occurrence on ties; only the index is opened
    return Outcome({"index": int(await mpc.output(index))})


def _argmax_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    maxima = [max(values) for values in inputs]
    return {"index": maxima.index(max(maxima))}


async def _argmax_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_COMPARE_BITS)
    maxima = mpc.input(secint(max(values)))
    index, _ = mpc.argmax(maxima)
    return Outcome({"index": int(await mpc.output(index))})


# ---------------------------------------------------------------------------------------------
# threshold


def _threshold_clear(inputs: Sequence[Sequence[int]], params: Mapping[str, Any]) -> Json:
    return {"exceeds": sum(_flatten(inputs)) > params["limit"]}


async def _threshold_mpc(mpc: Any, values: Sequence[int], params: Mapping[str, Any]) -> Outcome:
    secint = mpc.SecInt(_SUM_BITS)
    subtotals = mpc.input(secint(sum(values)))
    exceeds = await mpc.output(mpc.sum(subtotals) > secint(params["limit"]))
    return Outcome({"exceeds": bool(int(exceeds))})


# ---------------------------------------------------------------------------------------------
# intersection-size
#
# Items hash to integers below 2**120, read in the prime field F_p of a 128-bit secint. The
# party with the smallest set (the lowest index on ties) is the *probe*: for each of its items a
# it inputs the powers 1, a, …, a^D. Every other party j inputs the coefficients of
# r_j·Π_{b∈B_j}(X − b), its own set's polynomial scaled by a random non-zero r_j it picks (padded
# to degree D, the largest other set). The sum g of those polynomials vanishes at a when a is in
# every other set; otherwise g(a) = 0 only with probability 1/p over the r_j. g(a) is one inner
# product of two secret vectors (one resharing); MPyC's is_zero for a secint of this size is the
# constant-round probabilistic test of Nishide–Ohta (error 2**-k per item, k = MPYC_SEC_PARAM),
# far cheaper than the Fermat test a^(p−1) it uses for secure field elements (1.7 s against
# 10 s for three parties with 200 items each, measured with MPyC alone). Only the count of zeros
# is opened.


def _item_hash(item: str) -> int:
    digest = hashlib.sha256(b"accord intersection-size v1\x00" + item.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") >> (256 - _HASH_BITS)


def _polynomial_from_roots(roots: Sequence[int], scale: int, p: int) -> list[int]:
    """Coefficients (constant term first) of scale·Π(X − root) over F_p."""
    coefficients = [scale % p]
    for root in roots:
        shifted = [0, *coefficients]  # X·c(X)
        for k, c in enumerate(coefficients):
            shifted[k] = (shifted[k] - root * c) % p
        coefficients = shifted
    return coefficients


def _powers(a: int, degree: int, p: int) -> list[int]:
    powers = [1]
    for _ in range(degree):
        powers.append(powers[-1] * a % p)
    return powers


def _intersection_size_clear(inputs: Sequence[Sequence[str]], params: Mapping[str, Any]) -> Json:
    common = set(inputs[0]).intersection(*inputs[1:])
    return {"size": len(common)}


async def _intersection_size_mpc(
    mpc: Any, items: Sequence[str], params: Mapping[str, Any]
) -> Outcome:
    secint = mpc.SecInt(_HASH_FIELD_BITS)
    p = secint.field.order
    sizes = [int(n) for n in await mpc.transfer(len(items))]  # set sizes are public
    parties = range(len(sizes))
    probe = min(parties, key=lambda i: (sizes[i], i))
    others = [j for j in parties if j != probe]
    degree = max(sizes[j] for j in others)
    hashes = [_item_hash(item) for item in items]

    width = degree + 1
    if mpc.pid == probe:
        powers = [secint(x) for a in hashes for x in _powers(a, degree, p)]
    else:
        powers = [secint(None) for _ in range(sizes[probe] * width)]
    powers = mpc.input(powers, senders=probe)

    combined = None
    for j in others:
        if mpc.pid == j:
            scale = secrets.randbelow(p - 1) + 1
            coefficients = _polynomial_from_roots(hashes, scale, p)
            coefficients += [0] * (width - len(coefficients))
            mine = [secint(c) for c in coefficients]
        else:
            mine = [secint(None) for _ in range(width)]
        shared = mpc.input(mine, senders=j)
        combined = shared if combined is None else mpc.vector_add(combined, shared)

    zeros = [
        mpc.is_zero(mpc.in_prod(combined, powers[i * width : (i + 1) * width]))
        for i in range(sizes[probe])
    ]
    size = await mpc.output(mpc.sum(zeros))
    return Outcome({"size": int(size)})


# ---------------------------------------------------------------------------------------------
# psi (two parties, openmined-psi; see accord.compute.psi)


async def _psi_mpc(mpc: Any, items: Sequence[str], params: Mapping[str, Any]) -> Outcome:
    result, private = await psi.run(mpc, items, params)
    return Outcome(result, private)


# ---------------------------------------------------------------------------------------------
# The catalogue


def _make(
    *,
    id: str,
    version: int,
    description: str,
    input_kind: Literal["values", "set"],
    clear: ClearFunction,
    mpc: MpcFunction,
    helpers: Sequence[Callable[..., Any]] = (),
    constants: Mapping[str, object],
    params: Mapping[str, ParamSpec] | None = None,
    min_parties: int = 3,
    max_parties: int = MAX_PARTIES,
    max_items: int = MAX_VALUES,
    engine: Literal["mpyc", "openmined-psi"] = "mpyc",
) -> Program:
    digest = program_digest(id, version, constants, [clear, mpc, *helpers])
    return Program(
        id=id,
        version=version,
        description=description,
        input_kind=input_kind,
        min_parties=min_parties,
        max_parties=max_parties,
        max_items=max_items,
        params=dict(params or {}),
        clear=clear,
        mpc=mpc,
        engine=engine,
        sha256=digest,
    )


_MPYC = {"MPYC_SEC_PARAM": MPYC_SEC_PARAM}
_LOCAL = (
    " Each party reduces its values locally and secret-shares only that; the number of values a"
    " party holds is not revealed."
)

_PROGRAMS = [
    _make(
        id="sum",
        version=1,
        description="The total of every party's values; only the total is revealed." + _LOCAL,
        input_kind="values",
        clear=_sum_clear,
        mpc=_sum_mpc,
        helpers=[_flatten],
        constants={**_MPYC, "SUM_BITS": _SUM_BITS},
    ),
    _make(
        id="mean",
        version=1,
        description=(
            "The exact mean of every party's values, as a reduced fraction and a float. The sum"
            " and the total count N are opened (not each party's count)."
        ),
        input_kind="values",
        clear=_mean_clear,
        mpc=_mean_mpc,
        helpers=[_flatten, _fraction_result],
        constants={**_MPYC, "SUM_BITS": _SUM_BITS},
    ),
    _make(
        id="variance",
        version=1,
        description=(
            "The exact population variance of every party's values, (N·Σx² − (Σx)²)/N², as a"
            " reduced fraction and a float. Only the numerator N·Σx² − (Σx)² and the total count"
            " N are opened; Σx² and Σx stay secret, and so does each party's count."
        ),
        input_kind="values",
        clear=_variance_clear,
        mpc=_variance_mpc,
        helpers=[_flatten, _fraction_result],
        constants={**_MPYC, "VARIANCE_BITS": _VARIANCE_BITS},
    ),
    _make(
        id="min",
        version=1,
        description="The smallest value over every party; only that value is revealed." + _LOCAL,
        input_kind="values",
        clear=_min_clear,
        mpc=_min_mpc,
        helpers=[_flatten],
        constants={**_MPYC, "COMPARE_BITS": _COMPARE_BITS},
    ),
    _make(
        id="max",
        version=1,
        description="The largest value over every party; only that value is revealed." + _LOCAL,
        input_kind="values",
        clear=_max_clear,
        mpc=_max_mpc,
        helpers=[_flatten],
        constants={**_MPYC, "COMPARE_BITS": _COMPARE_BITS},
    ),
    _make(
        id="argmin",
        version=1,
        description=(
            "The index (0-based, in the participants' order) of the party holding the smallest"
            " value, the lowest index on ties; only the index is revealed, not the value"
            " (who offers the lowest price, without revealing prices)." + _LOCAL
        ),
        input_kind="values",
        clear=_argmin_clear,
        mpc=_argmin_mpc,
        constants={**_MPYC, "COMPARE_BITS": _COMPARE_BITS},
    ),
    _make(
        id="argmax",
        version=1,
        description=(
            "The index (0-based, in the participants' order) of the party holding the largest"
            " value, the lowest index on ties; only the index is revealed, not the value." + _LOCAL
        ),
        input_kind="values",
        clear=_argmax_clear,
        mpc=_argmax_mpc,
        constants={**_MPYC, "COMPARE_BITS": _COMPARE_BITS},
    ),
    _make(
        id="threshold",
        version=1,
        description=(
            "Whether the total of every party's values exceeds a public limit (sum > limit);"
            " only that bit is revealed, not the total (a combined-exposure check)." + _LOCAL
        ),
        input_kind="values",
        clear=_threshold_clear,
        mpc=_threshold_mpc,
        helpers=[_flatten],
        constants={**_MPYC, "SUM_BITS": _SUM_BITS, "LIMIT_BOUND": LIMIT_BOUND},
        params={
            "limit": ParamSpec(
                "the public limit the total is compared with", -LIMIT_BOUND, LIMIT_BOUND
            )
        },
    ),
    _make(
        id="intersection-size",
        version=1,
        description=(
            "The number of items that are in every party's set; only the count is revealed,"
            " not the items. Each party's set size is public (MPyC needs the input shapes)."
            f" At most {MAX_INTERSECTION_ITEMS} items per party (the cost is quadratic)."
        ),
        input_kind="set",
        clear=_intersection_size_clear,
        mpc=_intersection_size_mpc,
        helpers=[_item_hash, _polynomial_from_roots, _powers],
        constants={
            **_MPYC,
            "HASH_BITS": _HASH_BITS,
            "HASH_FIELD_BITS": _HASH_FIELD_BITS,
            "MAX_INTERSECTION_ITEMS": MAX_INTERSECTION_ITEMS,
        },
        max_items=MAX_INTERSECTION_ITEMS,
    ),
    _make(
        id="psi",
        version=1,
        description=(
            "Two-party private set intersection (openmined-psi, run in both directions): both"
            " parties learn the intersection items, privately; the public result is only its"
            ' size and itemsSha256, the SHA-256 of the sorted items joined by "\\n". Each party'
            " also learns the other's set size."
        ),
        input_kind="set",
        clear=psi.clear,
        mpc=_psi_mpc,
        helpers=psi.IMPLEMENTATION,
        constants={"MAX_PSI_ITEMS": MAX_PSI_ITEMS, "FALSE_POSITIVE_RATE": psi.FALSE_POSITIVE_RATE},
        min_parties=2,
        max_parties=2,
        max_items=MAX_PSI_ITEMS,
        engine="openmined-psi",
    ),
]

PROGRAMS: Mapping[str, Program] = {program.id: program for program in _PROGRAMS}


def get_program(program_id: object) -> Program:
    """The program with this id; :class:`NotFound` (naming every id) otherwise."""
    program = PROGRAMS.get(program_id) if isinstance(program_id, str) else None
    if program is None:
        raise NotFound(
            f"no computation program {program_id!r}; the catalogue has: {', '.join(PROGRAMS)}"
        )
    return program


def check_party_count(program: Program, count: int) -> None:
    if not program.min_parties <= count <= program.max_parties:
        if program.min_parties == program.max_parties:
            wanted = f"exactly {program.min_parties}"
        else:
            wanted = f"{program.min_parties} to {program.max_parties}"
        why = (
            " (MPyC keeps inputs private only with an honest majority of at least three)"
            if program.engine == "mpyc" and count < program.min_parties
            else ""
        )
        raise InvalidRequest(f"{program.id} needs {wanted} parties, not {count}{why}")


def check_inputs(program: Program, value: object) -> list[int] | list[str]:
    """One party's input for ``program``, checked (limits in the module docstring).

    Raises :class:`InvalidRequest` with a message naming the first problem.
    """
    if program.input_kind == "values":
        return _check_values(program, value)
    return _check_set(program, value)


def _check_values(program: Program, value: object) -> list[int]:
    if not isinstance(value, list):
        raise InvalidRequest(
            f"{program.id} takes a list of integers per party, not {type(value).__name__}"
        )
    if not 1 <= len(value) <= program.max_items:
        raise InvalidRequest(
            f"{program.id} takes 1 to {program.max_items} values per party, not {len(value)}"
        )
    for index, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidRequest(
                f"value [{index}] is {type(v).__name__} {v!r}, not an integer"
                if not isinstance(v, bool)
                else f"value [{index}] is a boolean, not an integer"
            )
        if not -VALUE_BOUND < v < VALUE_BOUND:
            raise InvalidRequest(
                f"value [{index}] = {v} is out of range: values are -2**31 < v < 2**31"
            )
    return list(value)


def _check_set(program: Program, value: object) -> list[str]:
    if not isinstance(value, list):
        raise InvalidRequest(
            f"{program.id} takes a list of strings per party, not {type(value).__name__}"
        )
    if not 1 <= len(value) <= program.max_items:
        raise InvalidRequest(
            f"{program.id} takes 1 to {program.max_items} items per party, not {len(value)}"
        )
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequest(f"item [{index}] is {type(item).__name__}, not a string")
        try:
            size = len(item.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidRequest(f"item [{index}] is not valid Unicode text") from exc
        if not 1 <= size <= MAX_ITEM_BYTES:
            raise InvalidRequest(
                f"item [{index}] is {size} bytes of UTF-8; items are 1 to {MAX_ITEM_BYTES} bytes"
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in item):
            raise InvalidRequest(f"item [{index}] contains a control character")
        if item in seen:
            raise InvalidRequest(f"item [{index}] {item!r} appears twice; a set has distinct items")
        seen.add(item)
    return list(value)


def check_params(program: Program, params: object) -> dict[str, int]:
    """The program's parameters, checked: no unknown names, every required one, in range."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidRequest(f"params must be an object, not {type(params).__name__}")
    unknown = sorted(set(params) - set(program.params))
    if unknown:
        accepted = ", ".join(program.params) or "none"
        raise InvalidRequest(f"{program.id} has no parameter {unknown[0]!r} (it takes: {accepted})")
    checked: dict[str, int] = {}
    for name, spec in program.params.items():
        if name not in params:
            if spec.required:
                raise InvalidRequest(
                    f"{program.id} needs the parameter {name!r}: {spec.description}"
                )
            continue
        v = params[name]
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidRequest(f"parameter {name!r} must be an integer, not {v!r}")
        if not spec.minimum <= v <= spec.maximum:
            raise InvalidRequest(
                f"parameter {name!r} = {v} is out of range [{spec.minimum}, {spec.maximum}]"
            )
        checked[name] = v
    return checked
