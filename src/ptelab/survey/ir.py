"""A function body as the survey reads it: the calls in evaluation order, the
assignments, the branches, the loops and the jumps (tree-sitter nodes in,
plain tuples out, so that the result can be cached).

Items:
  ("call", line, name, args)            a call of a named function, after the calls in its arguments
  ("assign", line, target, rhs)         target = rhs; rhs is ("call", name, args) | ("var", name) |
                                        ("deref", pointer) | None (anything else, and x++, x += n)
  ("decl", line, name)                  a local variable
  ("if", line, cond, then, else)        cond's own calls come before, as items
  ("loop", line, pte_loop, head, body)  head: the calls evaluated every iteration (condition, update)
  ("jump", line, kind)                  return, break, continue, goto
"""

from __future__ import annotations

import re

_PTE_LOOP = re.compile(r'pte|addr|PAGE_SIZE|page_vma_mapped_walk|\bnr\b|\bi\b.*\bnr')
_SPACE = re.compile(r'\s+')


def text(node) -> str:
    return _SPACE.sub(" ", node.text.decode("latin-1")).strip()


def _line(node) -> int:
    return node.start_point[0] + 1


def function_ir(body) -> tuple:
    out: list = []
    _stmt(body, out)
    return tuple(out)


def _block(node) -> tuple:
    out: list = []
    if node is not None:
        _stmt(node, out)
    return tuple(out)


def _stmt(node, out: list) -> None:
    t = node.type
    if t in ("compound_statement", "translation_unit", "else_clause"):
        for child in node.named_children:
            _stmt(child, out)
    elif t == "expression_statement":
        for child in node.named_children:
            _expr(child, out)
    elif t == "declaration":
        for child in node.named_children:
            if child.type == "init_declarator":
                name = _declared(child.child_by_field_name("declarator"))
                value = child.child_by_field_name("value")
                if value is not None:
                    _expr(value, out)
                if name:
                    out.append(("decl", _line(child), name))
                    out.append(("assign", _line(child), name, _rhs(value)))
            elif child.type in ("identifier", "pointer_declarator", "array_declarator"):
                name = _declared(child)
                if name:
                    out.append(("decl", _line(child), name))
    elif t == "if_statement":
        cond = node.child_by_field_name("condition")
        _expr(cond, out)
        out.append(("if", _line(node), text(cond), _block(node.child_by_field_name("consequence")),
                    _block(node.child_by_field_name("alternative"))))
    elif t in ("for_statement", "while_statement", "do_statement"):
        head: list = []
        parts = []
        for field in ("initializer", "condition", "update"):
            part = node.child_by_field_name(field)
            if part is not None:
                parts.append(part)
                if field == "initializer":
                    (_stmt if part.type == "declaration" else _expr)(part, out)
                else:
                    (_stmt if part.type == "declaration" else _expr)(part, head)
        if t != "do_statement":  # the condition is evaluated before the first iteration too
            cond = node.child_by_field_name("condition")
            if cond is not None:
                (_stmt if cond.type == "declaration" else _expr)(cond, out)
        body = _block(node.child_by_field_name("body"))
        header = " ".join(text(p) for p in parts)
        pte_loop = bool(_PTE_LOOP.search(header)) or (
            header.strip("() ") in ("", "1", "true") and any(
                i[0] == "assign" and _PTE_LOOP.search(i[2]) for i in body))
        out.append(("loop", _line(node), pte_loop, tuple(head), body))
    elif t == "switch_statement":
        _expr(node.child_by_field_name("condition"), out)
        out.append(("if", _line(node), "switch", _block(node.child_by_field_name("body")), ()))
    elif t == "case_statement":
        for child in node.named_children[1 if node.child_by_field_name("value") is not None else 0:]:
            _stmt(child, out)
    elif t == "labeled_statement":
        for child in node.named_children[1:]:
            _stmt(child, out)
    elif t == "return_statement":
        for child in node.named_children:
            _expr(child, out)
        out.append(("jump", _line(node), "return"))
    elif t in ("break_statement", "continue_statement", "goto_statement"):
        out.append(("jump", _line(node), t.split("_")[0]))
    elif t in ("comment", "ERROR", "type_definition", "struct_specifier", "function_definition"):
        return
    else:  # preprocessor leftovers, attributes, gnu asm, ...: their calls still count
        for child in node.named_children:
            if child.type.endswith("statement") or child.type == "declaration":
                _stmt(child, out)
            else:
                _expr(child, out)


def _declared(node) -> str | None:
    while node is not None and node.type != "identifier":
        node = node.child_by_field_name("declarator")
    return node.text.decode("latin-1") if node is not None else None


def _strip(node):
    while node is not None and node.type in ("parenthesized_expression", "cast_expression"):
        node = node.child_by_field_name("value") if node.type == "cast_expression" else (
            node.named_children[0] if node.named_children else None)
    return node


def _rhs(node):
    node = _strip(node)
    if node is None:
        return None
    if node.type == "call_expression":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "identifier":
            args = node.child_by_field_name("arguments")
            return ("call", fn.text.decode("latin-1"), tuple(text(a) for a in args.named_children))
    if node.type == "identifier":
        return ("var", node.text.decode("latin-1"))
    if node.type == "pointer_expression" and node.text.startswith(b"*"):
        return ("deref", text(node.child_by_field_name("argument")))
    if node.type == "assignment_expression":
        return _rhs(node.child_by_field_name("right"))
    return None


def _expr(node, out: list) -> None:
    if node is None:
        return
    t = node.type
    if t == "call_expression":
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        arg_nodes = args.named_children if args is not None else []
        for arg in arg_nodes:
            _expr(arg, out)
        if fn is not None and fn.type == "identifier":
            out.append(("call", _line(node), fn.text.decode("latin-1"), tuple(text(a) for a in arg_nodes)))
        else:
            _expr(fn, out)
    elif t == "assignment_expression":
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        _expr(right, out)
        _expr(left, out) if left is not None and left.type != "identifier" else None
        op = node.child_by_field_name("operator")
        simple = op is None or op.type == "="
        out.append(("assign", _line(node), text(left), _rhs(right) if simple else None))
    elif t == "update_expression":
        arg = node.child_by_field_name("argument")
        out.append(("assign", _line(node), text(arg), None))
    elif t == "conditional_expression":
        cond = node.child_by_field_name("condition")
        _expr(cond, out)
        then: list = []
        other: list = []
        _expr(node.child_by_field_name("consequence"), then)
        _expr(node.child_by_field_name("alternative"), other)
        if then or other:
            out.append(("if", _line(node), text(cond), tuple(then), tuple(other)))
    elif t == "binary_expression" and node.child_by_field_name("operator").type in ("&&", "||"):
        left = node.child_by_field_name("left")
        _expr(left, out)
        right: list = []
        _expr(node.child_by_field_name("right"), right)
        if right:
            out.append(("if", _line(node), text(left), tuple(right), ()))
    elif t == "compound_statement":  # a statement expression ({ ... })
        _stmt(node, out)
    elif t in ("identifier", "number_literal", "string_literal", "char_literal", "true", "false", "null",
               "field_identifier", "comment", "sizeof_expression", "concatenated_string"):
        return
    else:
        for child in node.named_children:
            if child.type in ("compound_statement",):
                _stmt(child, out)
            elif child.type not in ("type_descriptor",):
                _expr(child, out)
