"""AST rewriter: turns a checked contract into metered, guarded Python.

Gas is injected as calls, not traced: a function charges its straight-line body on entry, a loop
charges its body per iteration, a comprehension charges its element per item. Every operation
whose cost or result size depends on data is routed through a guard in the runtime (`_vm_*`
names, which contract code cannot spell because leading underscores are refused).
"""

from __future__ import annotations

import ast
import itertools

from chainnode.vm.gas import GAS

HASH_INJECTIVE = (1 << 61) - 1  # same bound as common.HASH_INJECTIVE

GUARDED_BINOPS: dict[type, str] = {
    ast.Add: "_vm_add",
    ast.Sub: "_vm_sub",
    ast.Mult: "_vm_mul",
    ast.Pow: "_vm_pow",
    ast.LShift: "_vm_lshift",
    ast.Mod: "_vm_mod",
    ast.BitOr: "_vm_or",
    ast.FloorDiv: "_vm_floordiv",
    ast.BitAnd: "_vm_band",
    ast.BitXor: "_vm_bxor",
    ast.RShift: "_vm_rshift",
}
UNARY_GUARDS: dict[type, str] = {ast.USub: "_vm_neg", ast.Invert: "_vm_inv"}
INPLACE_BINOPS: dict[type, str] = {**GUARDED_BINOPS, ast.Add: "_vm_iadd", ast.BitOr: "_vm_ior"}
COMPARE_GUARDS: dict[type, str] = {
    ast.Eq: "_vm_eq",
    ast.NotEq: "_vm_ne",
    ast.Lt: "_vm_lt",
    ast.LtE: "_vm_le",
    ast.Gt: "_vm_gt",
    ast.GtE: "_vm_ge",
    ast.In: "_vm_in",
    ast.NotIn: "_vm_notin",
}
_PRIMITIVE = (int, str, bytes, bool, type(None))


_DISPLAYS = (ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.DictComp)


def count_nodes(nodes: list[ast.AST]) -> int:
    """Statement and expression nodes executed at most once per pass through this region:
    loop bodies and comprehension elements are charged where they run, not here. Nodes that
    make a new object of fixed size (a container display, a function) weigh more, so that
    the bytes they produce are paid for like any other (docs/contracts.md, Gas)."""
    total = 0
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.stmt, ast.expr)):
            total += 1
            if isinstance(node, _DISPLAYS) and not isinstance(getattr(node, "ctx", None),
                                                              ast.Store):
                total += GAS["display"]
            elif isinstance(node, ast.FunctionDef):
                total += GAS["fn_def"]
        if isinstance(node, ast.For):
            stack += [node.target, node.iter, *node.orelse]
        elif isinstance(node, ast.While):
            stack += [node.test, *node.orelse]
        elif isinstance(node, (ast.ListComp, ast.DictComp)):
            stack.append(node.generators[0].iter)
        elif isinstance(node, ast.FunctionDef):
            stack += [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]
        else:
            stack.extend(ast.iter_child_nodes(node))
    return total


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _call(fn: str, args: list[ast.expr], keywords: list[ast.keyword] | None = None) -> ast.Call:
    return ast.Call(func=_name(fn), args=args, keywords=keywords or [])


def _charge(cost: int) -> ast.Expr:
    return ast.Expr(value=_call("_vm_g", [ast.Constant(cost)]))


def _is_primitive_const(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, _PRIMITIVE)


def _safe_key(node: ast.AST) -> bool:
    """Constant keys that need no hashing guard: str (seeded hash) and ints whose hashes are
    distinct. Wide int constants collide modulo 2**61 - 1, even in a dict display."""
    if not isinstance(node, ast.Constant):
        return False
    v = node.value
    return type(v) is str or (type(v) is int and -HASH_INJECTIVE < v < HASH_INJECTIVE)


class Rewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self._temps = itertools.count()

    def rewrite(self, tree: ast.Module) -> ast.Module:
        module_cost = GAS["module"] + GAS["node"] * count_nodes(tree.body)
        body = [self.visit(stmt) for stmt in tree.body]
        flat: list[ast.stmt] = [_charge(module_cost)]
        for item in body:
            flat.extend(item if isinstance(item, list) else [item])
        tree.body = flat
        return ast.fix_missing_locations(tree)

    def _stmts(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            new = self.visit(stmt)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
        return out

    # -- statements ------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        cost = GAS["fn_entry"] + GAS["node"] * count_nodes(node.body)
        node.decorator_list = []
        node.returns = None
        for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            a.annotation = None
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        node.args.kw_defaults = [None if d is None else self.visit(d)
                                 for d in node.args.kw_defaults]
        body = self._stmts(node.body)
        enter = ast.Expr(value=_call("_vm_enter", [ast.Constant(cost)]))
        leave = ast.Expr(value=_call("_vm_leave", []))
        guarded = ast.Try(body=body, handlers=[], orelse=[], finalbody=[leave])
        node.body = [ast.copy_location(enter, node), ast.copy_location(guarded, node)]
        return node

    def _loop(self, node: ast.For | ast.While) -> ast.stmt:
        # a while test is evaluated and a for target assigned on every iteration
        again = node.test if isinstance(node, ast.While) else node.target
        cost = GAS["loop_iter"] + GAS["node"] * count_nodes([*node.body, again])
        self.generic_visit_fields(node, exclude=("body", "orelse"))
        node.body = [ast.copy_location(_charge(cost), node), *self._stmts(node.body)]
        node.orelse = self._stmts(node.orelse)
        return node

    def visit_For(self, node: ast.For) -> ast.stmt:
        return self._loop(node)

    def visit_While(self, node: ast.While) -> ast.stmt:
        return self._loop(node)

    def generic_visit_fields(self, node: ast.AST, exclude: tuple[str, ...]) -> None:
        for field in node._fields:
            if field in exclude:
                continue
            value = getattr(node, field)
            if isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        assign = ast.Assign(targets=[node.target], value=node.value)
        return self.visit(ast.copy_location(assign, node))

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt | list[ast.stmt]:
        guard = INPLACE_BINOPS.get(type(node.op))
        value = self.visit(node.value)
        target = node.target
        if guard is None:
            node.target = self.visit(target)
            node.value = value
            return node
        if isinstance(target, ast.Name):
            load = ast.Name(id=target.id, ctx=ast.Load())
            new = ast.Assign(targets=[ast.Name(id=target.id, ctx=ast.Store())],
                             value=_call(guard, [load, value]))
            return ast.copy_location(new, node)
        assert isinstance(target, ast.Subscript)  # the checker allows nothing else
        n = next(self._temps)
        obj, key = f"_vm_t{n}", f"_vm_k{n}"
        container = self.visit(target.value)
        index = self.visit(target.slice)
        key_expr = index if _safe_key(index) else _call("_vm_key", [index])
        first = ast.Assign(
            targets=[ast.Tuple(elts=[ast.Name(obj, ast.Store()), ast.Name(key, ast.Store())],
                               ctx=ast.Store())],
            value=ast.Tuple(elts=[container, key_expr], ctx=ast.Load()),
        )
        current = ast.Subscript(value=_name(obj), slice=_name(key), ctx=ast.Load())
        second = ast.Assign(
            targets=[ast.Subscript(value=_name(obj), slice=_name(key), ctx=ast.Store())],
            value=_call(guard, [current, value]),
        )
        return [ast.copy_location(first, node), ast.copy_location(second, node)]

    def visit_Delete(self, node: ast.Delete) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                call = _call("_vm_delitem", [self.visit(target.value), self.visit(target.slice)])
                out.append(ast.copy_location(ast.Expr(value=call), node))
            else:
                out.append(ast.copy_location(ast.Delete(targets=[self.visit(target)]), node))
        return out

    # -- expressions -----------------------------------------------------------------------

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        guard = GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(_call(guard, [node.left, node.right]), node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        guard = UNARY_GUARDS.get(type(node.op))
        if guard is None or _is_primitive_const(node.operand):
            return node
        return ast.copy_location(_call(guard, [node.operand]), node)

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        parts: list[ast.expr] = []
        for i, op in enumerate(node.ops):
            left, right = operands[i], operands[i + 1]
            if isinstance(op, (ast.Is, ast.IsNot)) or (
                not isinstance(op, (ast.In, ast.NotIn))
                and (_is_primitive_const(left) or _is_primitive_const(right))
            ):
                part: ast.expr = ast.Compare(left=left, ops=[op], comparators=[right])
            else:
                part = _call(COMPARE_GUARDS[type(op)], [left, right])
            parts.append(ast.copy_location(part, node))
        if len(parts) == 1:
            return parts[0]
        return ast.copy_location(ast.BoolOp(op=ast.And(), values=parts), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        value = self.visit(node.value)
        return ast.copy_location(_call("_vm_attr", [value, ast.Constant(node.attr)]), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        args = [self.visit(a) for a in node.args]
        keywords = [self.visit(k) for k in node.keywords]
        if isinstance(node.func, ast.Attribute):
            obj = self.visit(node.func.value)
            new = _call("_vm_meth", [obj, ast.Constant(node.func.attr), *args], keywords)
            return ast.copy_location(new, node)
        node.func = self.visit(node.func)
        node.args = args
        node.keywords = keywords
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        value = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            s = node.slice
            bounds = [ast.Constant(None) if b is None else self.visit(b)
                      for b in (s.lower, s.upper, s.step)]
            return ast.copy_location(_call("_vm_slice", [value, *bounds]), node)
        index = self.visit(node.slice)
        if not _safe_key(index):
            index = ast.copy_location(_call("_vm_key", [index]), node.slice)
        node.value = value
        node.slice = index
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        keys = []
        for k in node.keys:
            assert k is not None  # the checker refuses ** unpacking
            k = self.visit(k)
            keys.append(k if _safe_key(k) else ast.copy_location(_call("_vm_key", [k]), k))
        node.keys = keys
        node.values = [self.visit(v) for v in node.values]
        return node

    def _comprehension(self, node: ast.ListComp | ast.DictComp, elt_nodes: list[ast.AST]):
        gens = node.generators
        for i, gen in enumerate(gens):
            later: list[ast.AST] = list(gen.ifs)
            later += [gens[i + 1].iter] if i + 1 < len(gens) else elt_nodes
            cost = GAS["comp_item"] + GAS["node"] * count_nodes(later)
            if isinstance(node, ast.DictComp) and i + 1 == len(gens):
                cost += GAS["dict_item"]
            gen.target = self.visit(gen.target)
            gen.iter = ast.copy_location(_call("_vm_iter", [self.visit(gen.iter)]), gen.iter)
            gen.ifs = [ast.copy_location(_call("_vm_g", [ast.Constant(cost)]), gen.iter)] + [
                self.visit(c) for c in gen.ifs
            ]

    def visit_ListComp(self, node: ast.ListComp) -> ast.expr:
        self._comprehension(node, [node.elt])
        node.elt = self.visit(node.elt)
        return node

    def visit_DictComp(self, node: ast.DictComp) -> ast.expr:
        self._comprehension(node, [node.key, node.value])
        key = self.visit(node.key)
        node.key = key if _safe_key(key) else ast.copy_location(_call("_vm_key", [key]), key)
        node.value = self.visit(node.value)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        parts: list[ast.expr] = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                parts.append(self.visit(v.value))
            else:
                parts.append(v)
        return ast.copy_location(_call("_vm_fstr", parts), node)


def rewrite(tree: ast.Module) -> ast.Module:
    return Rewriter().rewrite(tree)
