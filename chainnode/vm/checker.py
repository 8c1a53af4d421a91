"""Deploy-time checker: decides which sources are contracts.

Every node must reject the same source for the same reason, so the checker is a pure function
of the source text: parse with a pinned grammar version, walk the tree in source order, and
raise ContractRejected for the first violation with a stable rule name. The checker is an
allowlist: a node type, name or attribute not listed here is refused, so a new Python feature
cannot slip through by default.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

from chainnode.vm.errors import ContractRejected
from chainnode.vm.gas import MAX_AST_DEPTH, MAX_AST_NODES, MAX_INT_BITS, MAX_SOURCE_BYTES
from chainnode.vm.names import ALL_ATTRIBUTES, BUILTIN_NAMES, FORBIDDEN_NAMES, HOST_NAMES

IDENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
VISIBLE_NAMES = HOST_NAMES | BUILTIN_NAMES

_ALLOWED_NODES = frozenset(
    {
        ast.Module, ast.FunctionDef, ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign,
        ast.For, ast.While, ast.If, ast.Expr, ast.Pass, ast.Break, ast.Continue, ast.Delete,
        ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.List, ast.Tuple,
        ast.ListComp, ast.DictComp, ast.Compare, ast.Call, ast.Constant, ast.Attribute,
        ast.Subscript, ast.Slice, ast.Name, ast.JoinedStr, ast.FormattedValue,
        ast.arguments, ast.arg, ast.keyword, ast.comprehension,
        ast.Load, ast.Store, ast.Del,
        ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
        ast.BitOr, ast.BitXor, ast.BitAnd,
        ast.UAdd, ast.USub, ast.Not, ast.Invert, ast.And, ast.Or,
        ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In,
        ast.NotIn,
    }
)  # fmt: skip

# Refused node types with a specific rule; anything else not allowed is "node-not-allowed".
_NODE_RULES: dict[type, tuple[str, str]] = {
    ast.Import: ("no-import", "import is not allowed"),
    ast.ImportFrom: ("no-import", "import is not allowed"),
    ast.ClassDef: ("no-class", "class definitions are not allowed"),
    ast.Lambda: ("no-lambda", "lambda is not allowed"),
    ast.Try: ("no-try", "try/except is not allowed; use require()"),
    ast.TryStar: ("no-try", "try/except* is not allowed"),
    ast.Raise: ("no-raise", "raise is not allowed; use require()"),
    ast.With: ("no-with", "with is not allowed"),
    ast.AsyncWith: ("no-async", "async is not allowed"),
    ast.AsyncFor: ("no-async", "async is not allowed"),
    ast.AsyncFunctionDef: ("no-async", "async is not allowed"),
    ast.Await: ("no-async", "await is not allowed"),
    ast.Global: ("no-global", "global is not allowed"),
    ast.Nonlocal: ("no-nonlocal", "nonlocal is not allowed"),
    ast.Yield: ("no-generator", "generators are not allowed"),
    ast.YieldFrom: ("no-generator", "generators are not allowed"),
    ast.GeneratorExp: ("no-generator", "generator expressions are not allowed; use [...]"),
    ast.Match: ("no-match", "match is not allowed"),
    ast.NamedExpr: ("no-walrus", "assignment expressions are not allowed"),
    ast.Set: ("no-set", "sets are not allowed (iteration order is not deterministic)"),
    ast.SetComp: ("no-set", "sets are not allowed (iteration order is not deterministic)"),
    ast.Starred: ("no-star-args", "star unpacking is not allowed"),
    ast.Assert: ("no-assert", "assert is not allowed; use require()"),
    ast.Div: ("no-true-division", "true division makes floats; use //, div_half_up or muldiv"),
    ast.MatMult: ("node-not-allowed", "the @ operator is not allowed"),
}


@dataclass(frozen=True)
class FunctionInfo:
    """Parameter shape of a top-level function, used to validate transaction kwargs."""

    name: str
    decorator: str  # "export", "view" or "" (private helper / init)
    params: tuple[tuple[str, str, bool], ...]  # (name, "posonly"|"normal"|"kwonly", has_default)


@dataclass(frozen=True)
class CheckedModule:
    tree: ast.Module
    functions: dict[str, FunctionInfo]  # in source order


def check_source(source: str) -> CheckedModule:
    if not isinstance(source, str):
        raise ContractRejected("syntax", 0, 0, "source must be a str")
    try:
        raw = source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContractRejected("syntax", 0, 0, "source is not valid UTF-8 text") from exc
    if len(raw) > MAX_SOURCE_BYTES:
        raise ContractRejected(
            "source-too-large", 0, 0, f"source is {len(raw)} bytes, limit {MAX_SOURCE_BYTES}"
        )
    tree = _parse(source)
    _check_tokens(source)
    _check_shape(tree)
    checker = _Checker()
    checker.run(tree)
    return CheckedModule(tree, checker.functions)


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source, filename="<contract>", mode="exec", feature_version=(3, 11))
    except SyntaxError as exc:
        raise ContractRejected("syntax", exc.lineno or 0, exc.offset or 0, exc.msg) from None
    except (RecursionError, MemoryError):
        # CPython's parser raises MemoryError for its own fixed stack limit (deep unary
        # nesting): deterministic, and a 64 KiB source cannot exhaust a node's memory
        raise ContractRejected("too-complex", 0, 0, "source nests too deeply to parse") from None
    except ValueError as exc:  # e.g. NUL bytes
        raise ContractRejected("syntax", 0, 0, str(exc)) from None


def _check_tokens(source: str) -> None:
    """Identifiers must be ASCII: the parser NFKC-normalises names, so a fullwidth or
    mathematical-letter spelling could otherwise alias a name this checker never saw."""
    skip = {tokenize.STRING, tokenize.COMMENT}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            text = tok.string
            if tok.type == tokenize.STRING and not text.isascii():
                text = _fstring_fields(text)
            elif tok.type in skip:
                continue
            if not text.isascii():
                line, col = tok.start
                raise ContractRejected(
                    "ascii-identifiers", line, col + 1, "identifiers and code must be ASCII"
                )
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ContractRejected("syntax", 0, 0, f"tokenizer: {exc}") from None


def _fstring_fields(token: str) -> str:
    """The replacement-field text of an f-string token (Python 3.11 tokenizes an f-string as
    one STRING, and names inside its fields are NFKC-normalised like any other)."""
    prefix = token[: len(token) - len(token.lstrip("rRbBuUfF"))]
    if "f" not in prefix.lower():
        return ""
    out = []
    depth = 0
    i = len(prefix)
    while i < len(token):
        ch = token[i]
        if depth == 0 and ch in "{}" and token[i : i + 2] in ("{{", "}}"):
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif depth:
            out.append(ch)
        i += 1
    return "".join(out)


def source_nodes(source: str) -> int:
    """Syntax nodes of `source` as the checker counts them, capped at MAX_AST_NODES + 1; 0 if
    it does not parse. Checking, rewriting and compiling cost ~5-8 µs per node whatever the
    bytes, and a dense source packs 1.4 nodes per byte (honest contracts ~0.2), so deploys pay
    per node as well as per byte (exec.executor.DEPLOY_GAS_PER_NODE)."""
    if len(source) > MAX_SOURCE_BYTES:
        return 0  # refused by size before parsing
    try:
        tree = ast.parse(source, mode="exec", feature_version=(3, 11))
    except Exception:  # noqa: BLE001 - syntax errors, NUL bytes, parser overflow: cheap refusals
        return 0
    count = 0
    stack: list[ast.AST] = [tree]
    while stack and count <= MAX_AST_NODES:
        count += 1
        stack.extend(ast.iter_child_nodes(stack.pop()))
    return count


def _check_shape(tree: ast.AST) -> None:
    """Iterative size/depth bound, so the recursive checker and CPython's compiler stay far
    from any recursion limit."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_AST_NODES:
            raise ContractRejected("too-complex", 0, 0, f"more than {MAX_AST_NODES} syntax nodes")
        if depth > MAX_AST_DEPTH:
            line = getattr(node, "lineno", 0)
            col = getattr(node, "col_offset", -1) + 1
            raise ContractRejected("too-complex", line, col, f"nesting deeper than {MAX_AST_DEPTH}")
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names


class _Checker:
    def __init__(self) -> None:
        self.functions: dict[str, FunctionInfo] = {}
        self.bound: set[str] = set()
        self.pos = (1, 1)
        self.in_annotation = False

    # -- helpers ---------------------------------------------------------------------------

    def fail(self, rule: str, message: str, node: ast.AST | None = None) -> None:
        line, col = self.pos
        if node is not None and hasattr(node, "lineno"):
            line, col = node.lineno, node.col_offset + 1
        raise ContractRejected(rule, line, col, message)

    def ident(self, name: str | None, node: ast.AST, what: str) -> None:
        if name is None:
            return
        if name.startswith("_"):
            self.fail("no-underscore", f"{what} {name!r} starts with an underscore", node)
        if not IDENT_RE.match(name):
            self.fail("identifier", f"{what} {name!r} is not a plain ASCII identifier", node)

    def binding(self, name: str, node: ast.AST) -> None:
        self.ident(name, node, "name")
        if name in VISIBLE_NAMES:
            self.fail("no-rebind-host", f"{name!r} is provided by the VM and cannot be rebound",
                      node)

    # -- entry -----------------------------------------------------------------------------

    def run(self, tree: ast.Module) -> None:
        self.bound = _bound_names(tree)
        top_names: set[str] = set()
        for stmt in tree.body:
            self.pos = (stmt.lineno, stmt.col_offset + 1)
            if isinstance(stmt, ast.FunctionDef):
                if stmt.name in top_names:
                    self.fail("duplicate-def", f"{stmt.name!r} is defined twice", stmt)
                top_names.add(stmt.name)
                self.function(stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    for n in _target_names(t):
                        if n.id in self.functions:
                            self.fail("duplicate-def", f"{n.id!r} rebinds a function", n)
                    if not all(isinstance(x, ast.Name) for x in _flatten_target(t)):
                        self.fail("top-level-statement",
                                  "module level may only assign plain names", t)
                self.visit(stmt)
                for t in targets:
                    top_names.update(n.id for n in _target_names(t))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and \
                    isinstance(stmt.value.value, str):
                continue  # docstring
            elif isinstance(stmt, ast.Pass):
                continue
            else:
                if type(stmt) in _NODE_RULES:
                    self.fail(*_NODE_RULES[type(stmt)], stmt)
                self.fail("top-level-statement",
                          "module level may only define functions and constants", stmt)

    def function(self, fn: ast.FunctionDef) -> None:
        self.binding(fn.name, fn)
        decorator = ""
        if len(fn.decorator_list) > 1:
            self.fail("decorator", "at most one decorator (@export or @view)", fn)
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Name) and dec.id in ("export", "view")):
                self.fail("decorator", "only @export and @view are allowed", dec)
            decorator = dec.id
        if fn.name == "init" and decorator:
            self.fail("init-decorated", "init is the constructor and cannot be exported", fn)
        args = fn.args
        if args.vararg is not None or args.kwarg is not None:
            self.fail("no-star-args", "*args and **kwargs parameters are not allowed", fn)
        params: list[tuple[str, str, bool]] = []
        positional = args.posonlyargs + args.args
        n_defaults = len(args.defaults)
        for i, a in enumerate(positional):
            kind = "posonly" if i < len(args.posonlyargs) else "normal"
            params.append((a.arg, kind, i >= len(positional) - n_defaults))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            params.append((a.arg, "kwonly", d is not None))
        self.functions[fn.name] = FunctionInfo(fn.name, decorator, tuple(params))
        self.visit(fn.args)
        if fn.returns is not None:
            self.annotation(fn.returns)
        for stmt in fn.body:
            self.visit(stmt)

    def annotation(self, node: ast.AST) -> None:
        """Annotations are stripped before compiling; they only need to be harmless text."""
        saved = self.in_annotation
        self.in_annotation = True
        try:
            self.visit(node)
        finally:
            self.in_annotation = saved

    # -- generic walk ----------------------------------------------------------------------

    def visit(self, node: ast.AST) -> None:
        if hasattr(node, "lineno"):
            self.pos = (node.lineno, node.col_offset + 1)
        kind = type(node)
        if kind in _NODE_RULES:
            self.fail(*_NODE_RULES[kind], node)
        if kind not in _ALLOWED_NODES:
            self.fail("node-not-allowed", f"{kind.__name__} is not allowed", node)
        method = getattr(self, "visit_" + kind.__name__, None)
        if method is not None:
            method(node)
        else:
            self.children(node)

    def children(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    # -- statements ------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.fail("no-nested-def", "functions may only be defined at module level", node)

    def visit_arg(self, node: ast.arg) -> None:
        self.binding(node.arg, node)
        if node.annotation is not None:
            self.annotation(node.annotation)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self.target(t, allow_subscript=True)
        self.visit(node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.target(node.target, allow_subscript=True)
        self.annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Div):
            self.fail(*_NODE_RULES[ast.Div], node)
        if isinstance(node.target, (ast.Tuple, ast.List)):
            self.fail("node-not-allowed", "augmented assignment to a tuple", node)
        self.target(node.target, allow_subscript=True)
        self.visit(node.op)
        self.visit(node.value)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if not isinstance(t, (ast.Name, ast.Subscript, ast.Attribute)):
                self.fail("bad-target", "del takes names and subscripts, one at a time", t)
            self.target(t, allow_subscript=True)

    def visit_For(self, node: ast.For) -> None:
        self.target(node.target, allow_subscript=False)
        self.visit(node.iter)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.fail("no-async", "async comprehensions are not allowed", node.target)
        self.target(node.target, allow_subscript=False)
        self.visit(node.iter)
        for cond in node.ifs:
            self.visit(cond)

    def target(self, node: ast.AST, *, allow_subscript: bool) -> None:
        if hasattr(node, "lineno"):
            self.pos = (node.lineno, node.col_offset + 1)
        if isinstance(node, ast.Name):
            self.binding(node.id, node)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.target(elt, allow_subscript=allow_subscript)
        elif isinstance(node, ast.Attribute):
            self.fail("no-attribute-assign", "attributes cannot be assigned or deleted", node)
        elif isinstance(node, ast.Subscript) and allow_subscript:
            if isinstance(node.slice, ast.Slice):
                self.fail("no-slice-assign", "slices cannot be assigned or deleted", node)
            self.visit(node.value)
            self.visit(node.slice)
        elif isinstance(node, ast.Starred):
            self.fail(*_NODE_RULES[ast.Starred], node)
        else:
            self.fail("bad-target", f"cannot assign to {type(node).__name__}", node)

    # -- expressions -----------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        self.ident(node.id, node, "name")
        if not isinstance(node.ctx, ast.Load):
            self.binding(node.id, node)
        elif not self.in_annotation and node.id not in VISIBLE_NAMES and \
                node.id not in self.bound:
            if node.id in FORBIDDEN_NAMES:
                # a contract may name its own variable `type`; only Python's is unavailable
                self.fail("forbidden-name", f"{node.id!r} is not available to contracts", node)
            self.fail("unknown-name", f"name {node.id!r} is not defined", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self.fail("no-underscore", f"attribute {node.attr!r} starts with an underscore", node)
        if node.attr in ("format", "format_map"):
            self.fail("no-format", "str.format is not allowed; use an f-string or +", node)
        if not isinstance(node.ctx, ast.Load):
            self.fail("no-attribute-assign", "attributes cannot be assigned or deleted", node)
        if not self.in_annotation and node.attr not in ALL_ATTRIBUTES:
            self.fail("attribute-not-allowed", f"attribute {node.attr!r} is not allowed", node)
        self.visit(node.value)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is None:
            self.fail("no-star-args", "**kwargs in calls is not allowed", node)
        self.ident(node.arg, node, "keyword")
        self.visit(node.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, (float, complex)):
            self.fail("no-float", "float literals are not allowed; use integers", node)
        if v is Ellipsis:
            self.fail("constant-not-allowed", "... is not allowed", node)
        if type(v) is int and v.bit_length() > MAX_INT_BITS:
            self.fail("int-literal-too-large", f"integer wider than {MAX_INT_BITS} bits", node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mod) and (
            isinstance(node.left, ast.JoinedStr)
            or (isinstance(node.left, ast.Constant) and isinstance(node.left.value, (str, bytes)))
        ):
            self.fail("no-string-percent", "% formatting of strings is not allowed", node)
        self.children(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if isinstance(op, (ast.Is, ast.IsNot)):
                pair = (operands[i], operands[i + 1])
                if not any(isinstance(x, ast.Constant) and x.value in (None, True, False)
                           and type(x.value) is not int for x in pair):
                    self.fail("is-only-none", "'is' may only compare with None, True or False",
                              node)
        for middle in node.comparators[:-1]:
            if not isinstance(middle, (ast.Name, ast.Constant)):
                self.fail("chained-compare",
                          "inner operands of a chained comparison must be names or constants",
                          middle)
        self.children(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.conversion != -1:
            self.fail("no-format", "f-string conversions (!r, !s, !a) are not allowed", node)
        if node.format_spec is not None:
            self.fail("no-format", "f-string format specs are not allowed", node)
        self.visit(node.value)

    def visit_Dict(self, node: ast.Dict) -> None:
        if any(k is None for k in node.keys):
            self.fail("no-star-args", "**mapping unpacking in dict displays is not allowed", node)
        self.children(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Slice):
            self.fail("no-slice-assign", "slices cannot be assigned or deleted", node)
        self.children(node)


def _flatten_target(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, (ast.Tuple, ast.List)):
        out: list[ast.AST] = []
        for elt in node.elts:
            out.extend(_flatten_target(elt))
        return out
    return [node]


def _target_names(node: ast.AST) -> list[ast.Name]:
    return [n for n in _flatten_target(node) if isinstance(n, ast.Name)]
