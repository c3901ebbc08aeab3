"""C bodies and conditions, parsed by tree-sitter-c and compiled to Python closures.

The subset (docs/litmus.md): declarations (`pte_t old = ...;`, `struct mmu_gather
tlb;`, pointers), assignments (`=`, `|=`, `&=`, `+=`, `-=`), `i++`, calls, `if`/`else`,
`for`, `while`, and expressions with the C operators, `&x` (an out-argument: the
object itself) and `a ? b : c`.  Names are checked when the file is read: locals
must be declared first, functions must exist and get the right number of
arguments, pages and mms must be declared.  In a call `f(vma, addr, ...)`, `vma`
is the vma of the block's mm that contains `addr`, as kernel code has it at hand.

Compiled statements set `env.actor.line` first, so every step knows its line.  Each
loop tells the explorer where each iteration starts (explore/loops.py: the
local-work bound and the spin-loop reduction).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import tree_sitter_c
from tree_sitter import Language, Parser

from ..explore.execution import kernel_bug
from ..explore.invariants import BUG, DEADLOCK
from ..machine.memory import BadPageState
from ..machine.spinlock import LockError, RecursiveLock
from ..machine.violation import InvariantViolation
from .errors import LitmusError
from .names import CONSTANTS, FUNCTIONS, ONCE, PTE_LOAD, PTE_STORE, STRUCTS, TYPES, BadArgument, Ref, describe

_PARSER = Parser(Language(tree_sitter_c.language()))
# How deep a body or condition may nest (statements in statements, expressions in
# expressions): compiling and running recurse once or twice per level, and the bodies run
# in the explorer's greenlets under the model's own calls.  The bundled suite nests < 20.
MAX_NESTING = 100
_BODY_PREFIX = "void block(void)"
_EXPR_PREFIX = "int condition(void) { return "


class Env:
    """A running block: its locals, actor, CPU, mm and world."""

    __slots__ = ("vars", "actor", "world", "mm", "cpu", "machine")

    def __init__(self, world, actor, mm):
        self.vars: dict = {}
        self.world = world
        self.actor = actor
        self.mm = mm
        self.machine = world.machine
        self.cpu = actor.cpu if actor is not None else None


class _Unsupported(Exception):
    pass


class Compiler:
    """Compiles one block (or one condition) of a litmus file."""

    def __init__(self, litmus, source_offset: int, prefix: str, globals_: dict, functions=FUNCTIONS,
                 fields: dict | None = None, refused: str = ""):
        self.litmus = litmus
        self.offset = source_offset - len(prefix)
        self.prefix = prefix
        self.globals = globals_  # name -> callable(env) for pages and mms
        self.functions = functions
        self.fields = fields or {}  # P0 -> its locals (conditions only)
        self.refused = refused  # why a function of FUNCTIONS that is not in `functions` is not
        self.locals: dict[str, str] = {}  # name -> declared type, every local of the block
        self.scopes: list[set] = [set()]  # the locals visible where the compiler is, by block
        self.depth = 0  # how deep the statement or expression being compiled is nested

    # ---- errors --------------------------------------------------------------------------
    def error(self, node, message, choices=(), near="") -> LitmusError:
        return self.error_at(node.start_byte, message, choices, near)

    def error_at(self, byte: int, message, choices=(), near="") -> LitmusError:
        """An error at a byte offset of the parsed source (tree-sitter counts bytes of
        UTF-8; the file's positions count characters)."""
        chars = len(self.source[:byte].decode("utf-8", "ignore"))
        return self.litmus.error(self.offset + chars, message, choices, near)

    def parse(self, source: str):
        self.source = source.encode()
        tree = _PARSER.parse(self.source)
        self.first_line = self.litmus.text.count("\n", 0, self.offset + len(self.prefix)) + 1 - \
            self.prefix.count("\n")
        bad = _first_error(tree.root_node)
        if bad is not None:
            what = f"'{bad.type}' is missing" if bad.is_missing else f"syntax error at '{_text(bad)[:20]}'"
            raise self.error(bad, what)
        return tree.root_node

    def _nest(self, node) -> None:
        """One level deeper (a statement or an expression inside another)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(node, f"nested more than {MAX_NESTING} levels deep; split the expression "
                             "or statement into smaller ones")

    # ---- blocks ----------------------------------------------------------------------------
    def block(self, body: str):
        with _no_gc():
            root = self.parse(self.prefix + body)
            function = root.named_children[0]
            return self.compound(function.child_by_field_name("body"))

    def compound(self, node):
        self.scopes.append(set())
        stmts = [self.statement(child) for child in node.named_children if child.type != "comment"]
        stmts = [s for s in stmts if s is not None]
        self.scopes.pop()

        def run(env):
            for stmt in stmts:
                stmt(env)
        return run

    def statement(self, node):
        self._nest(node)
        run = self._statement(node)
        self.depth -= 1
        return run

    def _statement(self, node):
        kind = node.type
        line = self.first_line + node.start_point[0]
        if kind == "compound_statement":
            return self.compound(node)
        if kind == "declaration":
            inner = self.declaration(node)
        elif kind == "expression_statement":
            if not node.named_children:
                return None
            expr = self.expr(node.named_children[0])
            inner = expr
        elif kind == "if_statement":
            inner = self.if_statement(node)
        elif kind == "for_statement":
            inner = self.for_statement(node)
        elif kind == "while_statement":
            cond = self.expr(node.child_by_field_name("condition"))
            body = self.statement(node.child_by_field_name("body"))
            where = f"{self.litmus.path}:{line}"

            def inner(env):
                iterate = env.actor.loop(where).iterate  # the local-work bound, spin loops
                while iterate(env.vars) and cond(env):
                    body(env)
        else:
            raise self.error(node, f"'{kind.replace('_', ' ')}' is not part of the litmus C subset "
                             "(declarations, assignments, calls, if, for, while)")

        def run(env):
            env.actor.line = line
            inner(env)
        return run

    def declaration(self, node):
        type_node = node.child_by_field_name("type")
        if type_node.type == "macro_type_specifier":  # f(x) g(y); : a call missing its ';'
            raise self.error_at(type_node.end_byte, f"expected ';' after '{_text(type_node)}'")
        if type_node.type == "struct_specifier":
            tag = _text(type_node.child_by_field_name("name"))
            if tag not in STRUCTS:
                raise self.error(type_node, f"unknown struct '{tag}'", STRUCTS, tag)
            typename, make = f"struct {tag}", STRUCTS[tag]
        else:
            typename = _text(type_node).split()[-1]
            if typename not in TYPES and type_node.type != "sized_type_specifier":
                raise self.error(type_node, f"unknown type '{typename}'", TYPES, typename)
            default = TYPES.get(typename, 0)
            make = lambda: default  # noqa: E731
        inits = []
        for decl in node.children_by_field_name("declarator"):
            value = None
            if decl.type == "init_declarator":
                value = self.expr(decl.child_by_field_name("value"))
                decl = decl.child_by_field_name("declarator")
            stars = ""
            while decl.type == "pointer_declarator":
                decl = decl.child_by_field_name("declarator")
                stars += "*"
            if decl.type != "identifier":
                raise self.error(decl, "declare plain names (arrays and functions are not supported)")
            name = _text(decl)
            self._check_free(decl, name)
            self.locals[name] = f"{typename} {stars}" if stars else typename
            self.scopes[-1].add(name)
            inits.append((name, value))

        def run(env):
            for name, value in inits:
                env.vars[name] = value(env) if value is not None else make()
        return run

    def _check_free(self, node, name):
        if name in self.globals or name in CONSTANTS or name in self.functions:
            raise self.error(node, f"'{name}' is already a page, mm, constant or function")

    def if_statement(self, node):
        cond = self.expr(node.child_by_field_name("condition"))
        then = self.statement(node.child_by_field_name("consequence"))
        alt_node = node.child_by_field_name("alternative")
        alt = None
        if alt_node is not None:
            alt = self.statement(alt_node.named_children[0] if alt_node.type == "else_clause" else alt_node)

        def run(env):
            if cond(env):
                then(env)
            elif alt is not None:
                alt(env)
        return run

    def for_statement(self, node):
        self.scopes.append(set())  # a declaration in the initializer is the loop's
        run = self._for_statement(node)
        self.scopes.pop()
        return run

    def _visible(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def _for_statement(self, node):
        init_node = node.child_by_field_name("initializer")
        init = None
        if init_node is not None:
            init = self.declaration(init_node) if init_node.type == "declaration" else self.expr(init_node)
        cond_node = node.child_by_field_name("condition")
        cond = self.expr(cond_node) if cond_node is not None else (lambda env: True)
        update_node = node.child_by_field_name("update")
        update = self.expr(update_node) if update_node is not None else (lambda env: None)
        body = self.statement(node.child_by_field_name("body"))
        line = self.litmus.text.count("\n", 0, self.offset + node.start_byte) + 1
        where = f"{self.litmus.path}:{line}"

        def run(env):
            if init is not None:
                init(env)
            iterate = env.actor.loop(where).iterate  # the local-work bound, spin loops
            while iterate(env.vars) and cond(env):
                body(env)
                update(env)
        return run

    # ---- expressions -------------------------------------------------------------------------
    def expr(self, node):
        method = getattr(self, "e_" + node.type, None)
        if method is None:
            raise self.error(node, f"'{_text(node)[:30]}' ({node.type.replace('_', ' ')}) is not part of "
                             "the litmus C subset")
        self._nest(node)
        run = method(node)
        self.depth -= 1
        return run

    def e_parenthesized_expression(self, node):
        return self.expr(node.named_children[0])

    def e_number_literal(self, node):
        text = _text(node).rstrip("uUlL")
        shown = text if len(text) <= 30 else text[:27] + "..."
        if len(text) > 66:  # more digits than any 64-bit value has, in any base (and int() refuses 4,300)
            raise self.error(node, f"{shown} does not fit in 64 bits")
        try:
            value = int(text, 8) if len(text) > 1 and text[0] == "0" and text.isdigit() else int(text, 0)
        except ValueError:
            raise self.error(node, f"'{shown}' is not an integer") from None
        if value >= 2**64:
            raise self.error(node, f"{shown} does not fit in 64 bits")
        return lambda env: value

    def e_true(self, node):
        return lambda env: 1

    def e_false(self, node):
        return lambda env: 0

    def e_null(self, node):
        return lambda env: 0

    def e_identifier(self, node):
        name = _text(node)
        if self._visible(name):
            return lambda env: env.vars[name]
        if name in self.globals:
            return self.globals[name]
        if name in CONSTANTS:
            value = CONSTANTS[name]
            return lambda env: value
        if name == "vma":
            raise self.error(node, "'vma' stands for the vma of the address after it in a call "
                             "(f(vma, addr, ...)); elsewhere use find_vma(mm, addr)")
        hint = " (declared in a block that ended before)" if name in self.locals else ""
        raise self.error(node, f"undefined name '{name}'{hint}",
                         [*self.locals, *self.globals, *CONSTANTS], name)

    def e_field_expression(self, node):
        base = _text(node.child_by_field_name("argument"))
        field = _text(node.child_by_field_name("field"))
        if base not in self.fields:
            raise self.error(node, f"'{base}.{field}': only a block's locals are read this way (P0.x)",
                             self.fields, base)
        if field not in self.fields[base]:
            raise self.error(node.child_by_field_name("field"), f"block {base} has no local '{field}'",
                             self.fields[base], field)
        return lambda env: env.vars[base].get(field, 0)

    def e_pointer_expression(self, node):
        if node.children[0].type != "&":
            return self._load(node)
        return self.expr(node.child_by_field_name("argument"))

    def _load(self, node):
        """`*ptep`: a plain load of the entry (a scheduling point, as ptep_get)."""
        if "ptep_get" not in self.functions:
            raise self.error(node, f"'*p' cannot be read here: {self.refused}")
        ptr = self.expr(node.child_by_field_name("argument"))
        call = self._checked(node, "*ptep", PTE_LOAD)
        return lambda env: call(env, ptr(env))

    def _store(self, node, target, value):
        """`*ptep = v` and `WRITE_ONCE(*ptep, v)`: a plain store of the entry (set_pte)."""
        ptr = self.expr(target.child_by_field_name("argument"))
        call = self._checked(node, "*ptep =", PTE_STORE)

        def store(env):
            v = value(env)
            call(env, ptr(env), v)
            return v
        return store

    def _once(self, node, name, arg_nodes):
        """READ_ONCE(x) is x, WRITE_ONCE(x, v) is x = v: the model is sequentially consistent
        at its steps, each access to shared state one step in program order."""
        want = 1 if name == "READ_ONCE" else 2
        if len(arg_nodes) != want:
            raise self.error(node, f"{name} takes {want} argument(s), given {len(arg_nodes)}")
        if name == "READ_ONCE":
            return self.expr(arg_nodes[0])
        target, value = arg_nodes[0], self.expr(arg_nodes[1])
        if target.type == "pointer_expression" and target.children[0].type == "*":
            return self._store(node, target, value)
        name_ = self._target(target)

        def assign(env):
            env.vars[name_] = result = value(env)
            return result
        return assign

    def e_unary_expression(self, node):
        op = node.children[0].type
        arg = self.expr(node.child_by_field_name("argument"))
        if op == "!":
            return lambda env: int(not arg(env))
        fn = self._arith(node.children[0], op, _UNARY[op])
        return lambda env: fn(arg(env))

    def e_binary_expression(self, node):
        op = node.children[1].type
        left = self.expr(node.child_by_field_name("left"))
        right = self.expr(node.child_by_field_name("right"))
        if op == "&&":
            return lambda env: int(bool(left(env) and right(env)))
        if op == "||":
            return lambda env: int(bool(left(env) or right(env)))
        fn = _BINARY.get(op)
        if fn is None:
            raise self.error(node, f"operator '{op}' is not supported")
        fn = self._arith(node.children[1], op, fn)
        return lambda env: fn(left(env), right(env))

    def _arith(self, node, op: str, fn):
        """fn on C's values: numbers of 64 bits.  An operand that is not a number, a
        division by zero, a shift by a negative count or by 64 or more, or a result that
        does not fit in 64 bits is an error at the operator (C leaves them undefined)."""
        byte, checks_range = node.start_byte, op in _GROWS

        def fail(message):
            return self.error_at(byte, message)

        def apply(*values):
            for v in values:
                if not isinstance(v, int) and op not in ("==", "!="):
                    raise fail(f"'{op}' works on numbers; this operand is {describe(v)}")
            if op in ("<<", ">>", "<<=", ">>=") and not 0 <= values[1] < 64:
                raise fail(f"shift by {describe(values[1])}: C shifts a 64-bit value by 0 to 63")
            try:
                result = fn(*values)
            except ZeroDivisionError:
                raise fail(f"division by zero ('{op}')") from None
            if checks_range and not -2**63 <= result < 2**64:
                raise fail(f"the result of '{op}' does not fit in 64 bits")
            return result
        return apply

    def e_conditional_expression(self, node):
        cond = self.expr(node.child_by_field_name("condition"))
        then = self.expr(node.child_by_field_name("consequence"))
        alt = self.expr(node.child_by_field_name("alternative"))
        return lambda env: then(env) if cond(env) else alt(env)

    def _target(self, node) -> str:
        if node.type != "identifier" or not self._visible(_text(node)):
            raise self.error(node, f"'{_text(node)}' is not a local of this block; declare it first",
                             self.locals, _text(node))
        return _text(node)

    def e_assignment_expression(self, node):
        left = node.child_by_field_name("left")
        op = node.children[1].type
        if left.type == "pointer_expression" and left.children[0].type == "*" and op == "=":
            return self._store(node, left, self.expr(node.child_by_field_name("right")))
        name = self._target(left)
        value = self.expr(node.child_by_field_name("right"))
        if op == "=":
            def assign(env):
                env.vars[name] = result = value(env)
                return result
            return assign
        fn = _BINARY.get(op[:-1])
        if fn is None:
            raise self.error(node, f"operator '{op}' is not supported")
        fn = self._arith(node.children[1], op, fn)

        def update(env):
            env.vars[name] = result = fn(env.vars[name], value(env))
            return result
        return update

    def e_update_expression(self, node):
        name = self._target(node.child_by_field_name("argument"))
        op = "++" if "++" in _text(node) else "--"
        fn = self._arith(node, op, _BINARY["+" if op == "++" else "-"])

        def update(env):
            env.vars[name] = result = fn(env.vars[name], 1)
            return result
        return update

    def e_call_expression(self, node):
        fn_node = node.child_by_field_name("function")
        name = _text(fn_node)
        function = self.functions.get(name)
        if name in ONCE:
            return self._once(node, name, [a for a in node.child_by_field_name("arguments").named_children
                                           if a.type != "comment"])
        if function is None and name in FUNCTIONS:
            raise self.error(fn_node, f"{name}() cannot be called here: {self.refused}")
        if function is None:
            raise self.error(fn_node, f"unknown function '{name}'", self.functions, name)
        arg_nodes = node.child_by_field_name("arguments").named_children
        arg_nodes = [a for a in arg_nodes if a.type != "comment"]
        if not function.required <= len(arg_nodes) <= len(function.params):
            want = function.required if function.required == len(function.params) else \
                f"{function.required} to {len(function.params)}"
            raise self.error(node, f"{name} takes {want} argument(s), given {len(arg_nodes)}: "
                             f"{function.signature(name)}")
        args = []
        for i, arg in enumerate(arg_nodes):
            if function.params[i] == "ptlp":  # an out-argument: &ptl, a local
                inner = arg.child_by_field_name("argument") if arg.type == "pointer_expression" else None
                if inner is None or arg.children[0].type != "&":
                    raise self.error(arg, f"{name} returns the lock through its last argument: pass &ptl")
                local = self._target(inner)
                args.append(lambda env, local=local: Ref(env.vars, local))
            elif arg.type == "identifier" and _text(arg) == "vma" and "vma" not in self.locals:
                if function.params[i] == "[vma]":  # pte_mkwrite(pte, vma): the model needs none
                    args.append(lambda env: None)
                    continue
                if i + 1 >= len(arg_nodes):
                    raise self.error(arg, "'vma' must be followed by an address in the same call")
                args.append(self._vma_of(self.expr(arg_nodes[i + 1])))
            else:
                args.append(self.expr(arg))
        call = self._checked(node, name, function)
        if len(args) == 1:
            a0 = args[0]
            return lambda env: call(env, a0(env))
        if len(args) == 2:
            a0, a1 = args
            return lambda env: call(env, a0(env), a1(env))
        if len(args) == 3:
            a0, a1, a2 = args
            return lambda env: call(env, a0(env), a1(env), a2(env))
        return lambda env: call(env, *[a(env) for a in args])

    def _checked(self, node, name: str, function):
        """function.call, refusing arguments of the wrong kind (an int for an mm, a
        number that is no page) before it runs, with the call's position; the kernel's own
        complaints while it runs (a spinlock released twice, a page freed while mapped)
        are BUG outcomes that name the call."""
        byte, line, call = node.start_byte, self.first_line + node.start_point[0], function.call
        path = self.litmus.path

        def checked(env, *values):
            problem = function.wrong(name, env, values)
            if problem is not None:
                raise self.error_at(byte, problem)
            try:
                return call(env, *values)
            except BadArgument as e:
                raise self.error_at(byte, f"{name}: {e}") from None
            except RecursiveLock as e:
                col = self.error_at(byte, "").col
                raise InvariantViolation(
                    DEADLOCK, f"{env.actor.name}'s {name}() at {path}:{line}:{col}: {e}: it waits for itself "
                    "forever", cpu=env.cpu.id,
                    own=f"it took a lock it holds ({name}() at {path}:{line}:{col}; a recursive spin_lock, "
                    "6.12 kernel/locking/spinlock_debug.c:87 'recursion'), no rule or other CPU is involved") from None
            except (LockError, BadPageState) as e:
                col = self.error_at(byte, "").col
                raise InvariantViolation(BUG, f"{name}() at {path}:{line}:{col}: {kernel_bug(e)}") from None
        return checked

    @staticmethod
    def _vma_of(addr):
        def vma(env):
            a = addr(env)
            return env.mm.find_vma(a) if isinstance(a, int) else None
        return vma

    # ---- conditions ----------------------------------------------------------------------
    def condition(self, text: str):
        with _no_gc():
            root = self.parse(self.prefix + text + "; }")
            ret = root.named_children[0].child_by_field_name("body").named_children[0]
            return self.expr(ret.named_children[0])


_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a // b, "%": lambda a, b: a % b, "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b, "&": lambda a, b: a & b, "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b, "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b), ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
}


# the operators whose result may not fit in 64 bits
_GROWS = ("+", "-", "*", "<<", "+=", "-=", "*=", "<<=", "++", "--")
_UNARY = {"~": lambda a: ~a, "-": lambda a: -a, "+": lambda a: a}


@contextmanager
def _no_gc():
    """Compiling makes closures and nodes by the hundred thousand and no garbage cycles:
    the cyclic collector's full passes over them made a long block cost more per statement
    than a short one (bench/bench_compile.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _text(node) -> str:
    return node.text.decode() if node is not None else ""


def _first_error(node):
    """The first node (in the text's order) that is an error or missing, without recursion:
    the tree may be as deep as the text is long."""
    if not (node.has_error or node.is_missing):
        return None
    while not (node.type == "ERROR" or node.is_missing):
        child = next((c for c in node.children if c.has_error or c.is_missing), None)
        if child is None:
            return node
        node = child
    return node
