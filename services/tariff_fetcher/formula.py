"""A small, safe arithmetic evaluator for tariff formulas (evcc §5.1) — an AST walk, never ``eval``.

Supports ``+ - * / **``, unary minus, comparisons with ``a if cond else b``, numbers, the variables
``price``, ``charges``, ``tax`` and the functions ``min``, ``max``, ``abs``, ``round`` (also written the Go
way, ``math.Max``/``math.Min``/``math.Abs``/``math.Round``, so evcc formulas keep working).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache

from shared.config_tariffs import check_formula


class FormulaError(ValueError):
    """The formula cannot be evaluated (bad syntax, unknown name, division by zero)."""


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": lambda v, n=0: round(v, int(n)),
}
_GO_FUNCTIONS = {"Max": "max", "Min": "min", "Abs": "abs", "Round": "round"}


@lru_cache(maxsize=64)
def compile_formula(text: str) -> ast.Expression:
    """Parse and vet ``text`` once; raise :class:`FormulaError` if it is not plain arithmetic."""
    try:
        check_formula(text)
    except ValueError as error:
        raise FormulaError(str(error)) from None
    return ast.parse(text, mode="eval")


def _function_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and node.id in _FUNCTIONS:
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "math"
        and node.attr in _GO_FUNCTIONS
    ):
        return _GO_FUNCTIONS[node.attr]
    raise FormulaError(f"formula: unknown function {ast.unparse(node)!r}")


def _eval(node: ast.expr, names: Mapping[str, float]) -> float:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise FormulaError(f"formula: unknown name {node.id!r}")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, names))
    if isinstance(node, ast.IfExp):
        return _eval(node.body, names) if _truth(node.test, names) else _eval(node.orelse, names)
    if isinstance(node, ast.Call) and not node.keywords:
        function = _FUNCTIONS[_function_name(node.func)]
        return float(function(*(_eval(arg, names) for arg in node.args)))
    raise FormulaError(f"formula: {ast.unparse(node)!r} is not allowed")


def _truth(node: ast.expr, names: Mapping[str, float]) -> bool:
    if isinstance(node, ast.Compare):
        left = _eval(node.left, names)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, names)
            if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    return _eval(node, names) != 0


def evaluate(text: str, *, price: float, charges: float = 0.0, tax: float = 0.0) -> float:
    """The value of formula ``text`` for one slot."""
    tree = compile_formula(text)
    try:
        return _eval(tree.body, {"price": price, "charges": charges, "tax": tax})
    except (ZeroDivisionError, OverflowError, TypeError) as error:
        raise FormulaError(f"formula {text!r}: {error}") from None
