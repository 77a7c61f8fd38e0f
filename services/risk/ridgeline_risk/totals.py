"""Running sums of Decimal terms kept as terms change, that read back exactly as the from-scratch
sum would.

The from-scratch sums risk used to compute over every position on every order are left-to-right
``sum(terms, ZERO)`` in a context of ``prec`` digits. When no step of such a sum rounds, its value
is the exact value and its exponent the smallest exponent of its operands (ZERO's 0 included).
:class:`ExactSum` keeps the exact total (in an unbounded context, so it never rounds either) and
a count of the terms' exponents, so it can give that same Decimal, digits and exponent alike. It
also tells when a from-scratch sum *would* have rounded (a term or a running total wider than
``prec`` digits), so the caller can fall back to the sum itself and never differ from it.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

ZERO = Decimal(0)
# Additions of finite Decimals in this context are always exact.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def exponent_of(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite Decimal: {value}")
    return exponent


def digits_at(bound: Decimal, exponent: int) -> int:
    """Coefficient digits ``bound`` (>= 0) needs when written with ``exponent``."""
    return bound.adjusted() - exponent + 1 if bound else 1


def with_exponent(value: Decimal, exponent: int) -> Decimal:
    """``value`` (a multiple of 10**exponent) written with exactly ``exponent``."""
    return value.quantize(Decimal((0, (1,), exponent)), context=EXACT)


class ExactSum:
    """Terms by key; their exact sum, sum of absolute values, smallest exponent and widest term."""

    __slots__ = ("_digits", "_exponents", "_shapes", "abs_total", "terms", "total")

    def __init__(self) -> None:
        self.terms: dict[str, Decimal] = {}
        self._shapes: dict[str, tuple[int, int]] = {}  # key -> (exponent, coefficient digits)
        self.total = ZERO
        self.abs_total = ZERO
        # How many terms have each exponent, each coefficient width.
        self._exponents: dict[int, int] = {}
        self._digits: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.terms)

    def set(self, key: str, value: Decimal) -> None:
        old = self.terms.get(key)
        if old is None:
            exponent = exponent_of(value)
        else:
            old_exponent, old_digits = self._shapes[key]
            # same_quantum: the same exponent, without as_tuple's cost.
            if value.same_quantum(old):
                if value == old:
                    return  # the same term (a zero's sign changes no sum that starts at +0)
                exponent = old_exponent
            else:
                exponent = exponent_of(value)
            self._remove(old, old_exponent, old_digits)
        digits = value.adjusted() - exponent + 1
        self.terms[key] = value
        self._shapes[key] = exponent, digits
        self.total = EXACT.add(self.total, value)
        self.abs_total = EXACT.add(self.abs_total, value.copy_abs())
        exponents, widths = self._exponents, self._digits
        exponents[exponent] = exponents.get(exponent, 0) + 1
        widths[digits] = widths.get(digits, 0) + 1

    def discard(self, key: str) -> None:
        old = self.terms.pop(key, None)
        if old is not None:
            self._remove(old, *self._shapes.pop(key))

    def _remove(self, old: Decimal, exponent: int, digits: int) -> None:
        self.total = EXACT.subtract(self.total, old)
        self.abs_total = EXACT.subtract(self.abs_total, old.copy_abs())
        exponents, widths = self._exponents, self._digits
        left = exponents[exponent] - 1
        if left:
            exponents[exponent] = left
        else:
            del exponents[exponent]
        left = widths[digits] - 1
        if left:
            widths[digits] = left
        else:
            del widths[digits]

    def min_exponent(self, start: int = 0) -> int:
        """Exponent of the exact ``sum(terms, start-exponent zero)``."""
        return min((start, *self._exponents))

    def widest(self) -> int:
        """Coefficient digits of the widest term (0 when empty)."""
        return max(self._digits) if self._digits else 0

    def reads_as_sum(self, prec: int, *, extra: Decimal = ZERO, exponent: int | None = None) -> bool:
        """Whether ``sum(terms, ZERO)`` (then ``+ extra``) in ``prec`` digits rounds at no step:
        every running total is at most ``abs_total + |extra|`` and needs no finer exponent than
        the smallest one, so it is enough that this bound fits."""
        exp = self.min_exponent() if exponent is None else exponent
        return digits_at(EXACT.add(self.abs_total, extra.copy_abs()), exp) <= prec
