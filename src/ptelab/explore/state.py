"""A fingerprint of the state an execution has reached: the world and every actor's position.

The merged search (explore/dpor.py, `merge=True`) recognises a state it has explored by
this fingerprint and does not explore its continuations again.  Nothing is copied: the
state is identified, and reached again by replaying a schedule that leads to it.

**What is hashed.**  Everything that decides what can happen next:
- the world (the machine: page tables, TLBs and caches, struct pages and frames, locks,
  counters; the mms and vmas; the scenario's own state), walked from its root as the
  checkpoint walks it (explore/checkpoint.py): every list, dict, set and object, in its
  iteration order (Python code iterates in that order, so it is part of the state), each
  object numbered when first met so that two references to one object and to two equal
  objects hash apart;
- the invariants' bookkeeping and the rule breaches recorded so far (an execution's
  result reports them);
- each actor: finished or not, its outcome, what it announced, its operations in flight,
  and its *position*: the Python frames of its greenlet, each as its code, the offset of
  its next instruction, and every slot of CPython's frame, its locals, cells and the
  values on its evaluation stack (a loop's iterator, the left operand of a `+` whose right
  one is being computed).  A frame's slots are read from CPython 3.11's
  `_PyInterpreterFrame` (Include/internal/pycore_frame.h, 3.11): `localsplus[0:stacktop]`.
  `stacktop` is exact only when the frame called its callee from Python
  (Python/ceval.c saves it before an inlined call, and reloads it when the callee
  returns); a frame that called C code that called Python again (its callee is an
  *entry* frame: a property, `type.__call__`, `any(generator)`) has a stale `stacktop`,
  and its state is then not known: the fingerprint is None and the state is explored as
  the stateless search would.  The top frame of a waiting actor is the scheduling point
  (`Execution.point`, or `_serve` before its first step), whose stack holds only the
  switch it is making: its locals are read.

Objects made during an execution are told apart by structure, not identity; code,
classes, modules, enumerations and built-in functions, which live as long as the process, by
name (module and qualified name; code also by its file, relative to the package, and first
line), so that two processes give one state one fingerprint (the visited set of a search
sharded over processes or a cluster: explore/visited.py).  A built-in method bound to an
object is its name and that object.
Step numbers that only say when something happened (a loop's first step, a waiting
actor's) are hashed relative to the current step; an actor's local-work counters, which
only feed the local-work bound, are not hashed.  A type the walk does not know is not
guessed at: the fingerprint is None.

Two states with the same fingerprint are the same state up to the names of the objects
made in them (a 128-bit BLAKE2b digest of the walk; a collision, about 2^-64 for 2^32
states, is the only way two different states could be merged).  On another Python than
3.11 the frame layout is unknown and every fingerprint is None: no state is merged.
"""

from __future__ import annotations

import collections
import ctypes
import dis
import enum
import sys
import types
import weakref
from hashlib import blake2b

SUPPORTED = sys.version_info[:2] == (3, 11) and ctypes.sizeof(ctypes.c_void_p) == 8

_ATOMS = (type, types.ModuleType, types.CodeType, types.BuiltinFunctionType, types.BuiltinMethodType,
          types.WrapperDescriptorType, types.MethodDescriptorType, types.MethodWrapperType,
          types.GetSetDescriptorType, types.MemberDescriptorType)
_PLAIN = (int, str, bool, type(None))  # hashed as themselves
_PLAIN_SET = frozenset(_PLAIN)
_VALUES = (float, bytes, complex, range, slice)  # hashed as their repr
_CONTAINERS = (list, dict, set, collections.Counter, collections.defaultdict)
_ITERATORS = tuple(type(x) for x in (iter([]), iter(()), iter(range(0)), iter({}), iter({}.values()),
                                     iter({}.items()), iter(set()), iter(""), reversed([]), enumerate([]),
                                     zip(), map(int, [])))
_CELL = types.CellType

# CPython 3.11, 64-bit: PyFrameObject.f_frame, and in _PyInterpreterFrame the offsets of
# f_code, stacktop, is_entry and localsplus (Include/internal/pycore_frame.h)
_F_FRAME, _I_STACKTOP, _I_IS_ENTRY, _I_LOCALSPLUS = 24, 64, 68, 72


def _nlocalsplus(code) -> int:
    """The frame's slots before its stack: locals, cells that are not arguments, free variables
    (CPython 3.11's co_nlocalsplus, which Python does not show)."""
    cells = code.co_cellvars
    return code.co_nlocals + sum(1 for name in cells if name not in code.co_varnames) + len(code.co_freevars)


_CALLS = frozenset(dis.opmap[name] for name in ("CALL", "CALL_FUNCTION_EX"))
_ENDS = frozenset(dis.opmap[name] for name in ("RETURN_VALUE", "RAISE_VARARGS", "RERAISE", "JUMP_FORWARD",
                                               "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"))
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_DEPTHS: dict = {}  # code -> {offset: the stack's depth before the instruction}


def _depth_in_call(code, lasti: int) -> int:
    """The depth of a frame's stack while its instruction at `lasti` calls C code that called
    Python again (Python/ceval.c, 3.11: CALL and CALL_FUNCTION_EX leave their operands in
    their slots, owned, until the call returns).  Any other instruction: Unknown."""
    depths = _DEPTHS.get(code)
    if depths is None:
        depths = _DEPTHS[code] = _stack_depths(code)
    found = depths.get(lasti)
    if found is None or found[1] not in _CALLS:
        raise Unknown(f"{code.co_name} is inside an instruction whose stack is not known")
    return found[0]


def _stack_depths(code) -> dict:
    """Offset -> (depth before the instruction, opcode): the compiler's own flow analysis
    (Python/compile.c stackdepth), redone with dis.stack_effect; an exception handler starts
    at the depth its table entry gives, plus the exception (and the offset, lasti)."""
    instructions = {i.offset: i for i in dis.get_instructions(code)}
    depths: dict[int, tuple] = {}
    work = [(0, 0)] + [(e.target, e.depth + e.lasti + 1) for e in dis._parse_exception_table(code)]
    while work:
        offset, depth = work.pop()
        if offset in depths or offset not in instructions:
            continue
        i = instructions[offset]
        depths[offset] = (depth, i.opcode)
        arg = i.arg if i.opcode >= dis.HAVE_ARGUMENT else None
        if i.opcode in _JUMPS:
            work.append((i.argval, depth + dis.stack_effect(i.opcode, arg, jump=True)))
        if i.opcode not in _ENDS:
            following = min((o for o in instructions if o > offset), default=None)
            if following is not None:
                work.append((following, depth + dis.stack_effect(i.opcode, arg, jump=False)))
    return depths


def _functions(root) -> list:
    """What a compiled scenario is made of, which no execution changes: the litmus compiler's
    closures (they capture what it knew when it compiled: other closures, constants, the
    function table's entries, the compiler; no cell is rebound, litmus/body.py has no
    `nonlocal`) and the litmus package's objects they and the scenario hold."""
    found, seen, stack = [], set(), [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            found.append(obj)
            stack.extend(cell.cell_contents for cell in obj.__closure__ or () if _full(cell))
        elif type(obj) in (list, tuple):
            stack.extend(obj)
        elif type(obj) is dict:
            stack.extend(obj.values())
        elif type(obj).__module__.startswith("ptelab.litmus") and hasattr(obj, "__dict__"):
            found.append(obj)
            stack.extend(obj.__dict__.values())
    return found


def _full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


# Sets of strings iterate in an order that depends on the process's string-hash seed, and a
# state's future does too: two processes share states only if their seeds agree (PYTHONHASHSEED;
# explore/cluster.py gives Ray's workers one).
_SALT = hash("ptelab state")

_LONG_LIVED = (type, types.ModuleType, types.CodeType, types.WrapperDescriptorType, types.MethodDescriptorType,
               types.GetSetDescriptorType, types.MemberDescriptorType)


def _stable_name(obj) -> str:
    """A name for a class, module, code object, descriptor or unbound built-in function that
    is the same in every process running the same ptelab (a short digest of it)."""
    if isinstance(obj, type):
        name = ("type", obj.__module__, obj.__qualname__)
    elif isinstance(obj, types.ModuleType):
        name = ("module", obj.__name__)
    elif isinstance(obj, types.CodeType):
        path = obj.co_filename  # where ptelab is installed does not matter; two lambdas on a line
        where = "ptelab/" + path.rpartition("/ptelab/")[2] if "/ptelab/" in path else path  # differ by code
        name = ("code", where, obj.co_firstlineno, obj.co_qualname, obj.co_code, obj.co_names)
    else:  # a descriptor or built-in function: its owner (class or module) and its name
        owner = getattr(obj, "__objclass__", None) or getattr(obj, "__self__", None)
        where = owner.__qualname__ if isinstance(owner, type) else getattr(owner, "__name__", None)
        name = (type(obj).__name__, getattr(owner, "__module__", None), where, obj.__qualname__)
    return blake2b(repr(name).encode(), digest_size=12).hexdigest()


class Unknown(Exception):
    """Part of the state cannot be hashed soundly: no fingerprint."""


def _slot_names(cls: type) -> tuple:
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend((slots,) if isinstance(slots, str) else slots)
    return tuple(n for n in names if n not in ("__dict__", "__weakref__"))


class Fingerprinter:
    """Fingerprints of one execution's states.  `atoms` are objects hashed by identity
    (the execution itself, its greenlets); `relative` maps an object's class to how its
    fields are written (explore/ classes whose fields hold step numbers)."""  # noqa

    def __init__(self, atoms, special: dict, top_codes, static=None):
        self.atoms = {id(obj): name for obj, name in atoms}  # the same in every execution
        for n, obj in enumerate(_functions(static)):  # made before the search and kept by it
            self.atoms[id(obj)] = ("static", n)  # numbered in the scenario's own order
        self._static = static
        self.top_codes = frozenset(top_codes)  # where a waiting actor's greenlet is suspended
        self.special = special  # class -> fields(obj, now) -> list of values to hash in its place
        self._slots: dict[type, tuple] = {}
        self._names: dict[int, str] = {}  # id -> name, of the objects that live as long as the process
        self._special: dict[type, object] = {}
        self.now = 0

    def of(self, roots, actors, now: int) -> bytes | None:
        """The digest of the roots (the world, the invariants, the breaches) and the actors'
        positions at step `now`; None when part of it cannot be hashed."""
        if not SUPPORTED:
            return None
        self.now = now
        self.memo: dict[int, int] = {}
        self.keep: list = []  # objects made for the walk (frames' slots) stay alive until it ends
        out: list = [_SALT]
        try:
            for root in roots:
                self._walk(root, out)
            for actor in actors:
                self._actor(actor, out)
        except (Unknown, RecursionError):
            return None
        finally:
            self.memo = {}
            self.keep = []
        return blake2b(repr(out).encode(), digest_size=16).digest()

    # ---- actors' positions ----------------------------------------------------------------
    def _actor(self, actor, out: list) -> None:
        glet = actor.glet
        if glet is None or glet.dead or actor.finished:
            out.append(("done", actor.index))
            return
        frames = []
        frame = glet.gr_frame
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        if not frames:
            raise Unknown("a live greenlet without frames")
        out.append(("actor", actor.index, len(frames)))
        callee_is_entry = None  # the top frame's callee is the greenlet switch (C)
        for frame in frames:
            address = ctypes.c_void_p.from_address(id(frame) + _F_FRAME).value
            code = frame.f_code
            if callee_is_entry is None:
                if code not in self.top_codes:
                    raise Unknown(f"an actor waits in {code.co_name}, not at a scheduling point")
                count = _nlocalsplus(code)
            elif callee_is_entry:  # stacktop is stale: the stack's depth at the call, from the code
                count = _nlocalsplus(code) + _depth_in_call(code, frame.f_lasti)
            else:
                count = ctypes.c_int.from_address(address + _I_STACKTOP).value
                if not _nlocalsplus(code) <= count <= _nlocalsplus(code) + code.co_stacksize:
                    raise Unknown(f"{code.co_name}'s stack top is out of its bounds")
            out.append(("frame", self._name(code), frame.f_lasti, count))
            self._slots_of(address, count, out)
            callee_is_entry = ctypes.c_bool.from_address(address + _I_IS_ENTRY).value

    def _slots_of(self, address: int, count: int, out: list) -> None:
        pointers = (ctypes.c_void_p * count).from_address(address + _I_LOCALSPLUS)
        for pointer in pointers:
            if pointer is None:
                out.append("<null>")
            else:
                value = ctypes.cast(pointer, ctypes.py_object).value
                self.keep.append(value)
                self._walk(value, out)

    # ---- names: what every process calls an object that lives as long as it ----------------
    def _atom(self, obj, out: list) -> None:
        """A class, module, code, enumeration member or built-in function: its name.  A built-in
        method bound to an object (`[].append`, a method-wrapper) is its name and the object."""
        if isinstance(obj, enum.Enum):
            out.append(("enum", self._name(type(obj)), obj.name))
            return
        owner = getattr(obj, "__self__", None)
        if owner is None or isinstance(owner, (type, types.ModuleType)):
            out.append(self._name(obj) if isinstance(obj, _LONG_LIVED) else _stable_name(obj))
            return
        out.append(("bound", type(obj).__name__, obj.__name__))
        self._walk(owner, out)

    def _name(self, obj) -> str:
        """The name of a long-lived object (kept by id: the process keeps the object)."""
        name = self._names.get(id(obj))
        if name is None:
            name = self._names[id(obj)] = _stable_name(obj)
        return name

    # ---- the world ------------------------------------------------------------------------
    def _walk(self, obj, out: list) -> None:
        kind = type(obj)
        if kind in _PLAIN:
            out.append(obj)
            return
        if kind in _VALUES:
            out.append((kind.__name__, repr(obj)))
            return
        atom = self.atoms.get(id(obj))
        if atom is not None:
            out.append(atom)
            return
        if isinstance(obj, (_ATOMS, enum.Enum)):
            self._atom(obj, out)
            return
        if isinstance(obj, (tuple, frozenset)):
            out.append((kind.__name__, self._name(kind), len(obj)))
            for item in obj:
                self._walk(item, out)
            return
        seen = self.memo.get(id(obj))
        if seen is not None:
            out.append(("ref", seen))
            return
        self.memo[id(obj)] = len(self.memo)
        self.keep.append(obj)
        if isinstance(obj, types.FunctionType):
            out.append(("fn", self._name(obj.__code__), len(obj.__closure__ or ())))
            for cell in obj.__closure__ or ():
                self._walk(cell, out)
            self._walk(obj.__defaults__, out)
            self._walk(obj.__kwdefaults__, out)
            return
        if kind is types.MethodType:
            out.append("method")
            self._walk(obj.__func__, out)
            self._walk(obj.__self__, out)
            return
        if kind is _CELL:
            try:
                contents = obj.cell_contents
            except ValueError:
                out.append("<empty cell>")
                return
            out.append("cell")
            self._walk(contents, out)
            return
        if kind in _ITERATORS:
            out.append((kind.__name__,))
            self._walk(obj.__reduce__(), out)
            return
        if isinstance(obj, types.GeneratorType):
            self._generator(obj, out)
            return
        if kind is weakref.WeakValueDictionary:  # machine.address_spaces: its live items
            out.append("weak values")
            self._walk(tuple(obj.items()), out)
            return
        special = self._special.get(kind, False)
        if special is False:  # the class's own or its nearest base's (an explorable subclass)
            special = self._special[kind] = next((self.special[k] for k in kind.__mro__ if k in self.special), None)
        if special is not None:
            out.append(("obj", self._name(kind)))
            self._walk(tuple(special(obj, self.now)), out)
            return
        if isinstance(obj, (BaseException, *_PLAIN, *_VALUES, tuple)) \
                or not (kind in _CONTAINERS or kind.__module__.startswith("ptelab.")):
            raise Unknown(f"a {kind.__module__}.{kind.__qualname__}")
        out.append(("obj", self._name(kind)))
        if kind is collections.defaultdict:
            self._walk(obj.default_factory, out)
        if isinstance(obj, list):
            items = tuple(obj)
            if _PLAIN_SET.issuperset(map(type, items)):  # a page table, a page field: at once
                out.append(items)
            else:
                out.append(("list", len(obj)))
                for item in items:
                    self._walk(item, out)
        elif isinstance(obj, dict):
            items = tuple(obj.items())
            if _PLAIN_SET.issuperset(map(type, obj.keys())) and _PLAIN_SET.issuperset(map(type, obj.values())):
                out.append(("plain dict", items))
            else:
                out.append(("dict", len(obj)))
                for key, value in items:
                    self._walk(key, out)
                    self._walk(value, out)
        elif isinstance(obj, set):
            out.append(("set", len(obj)))
            for item in obj:
                self._walk(item, out)
        attributes = getattr(obj, "__dict__", None)
        if attributes is not None:
            self._walk(attributes, out)
        names = self._slots.get(kind)
        if names is None:
            names = self._slots[kind] = _slot_names(kind)
        for name in names:
            self._walk(getattr(obj, name, "<unset>"), out)

    def _generator(self, gen, out: list) -> None:
        frame = gen.gi_frame
        if frame is None:
            out.append("<generator done>")
            return
        if gen.gi_running:
            raise Unknown("a running generator")
        address = ctypes.c_void_p.from_address(id(frame) + _F_FRAME).value
        count = ctypes.c_int.from_address(address + _I_STACKTOP).value  # saved at its yield
        code = frame.f_code
        if not _nlocalsplus(code) <= count <= _nlocalsplus(code) + code.co_stacksize:
            raise Unknown("a generator's stack top is out of its bounds")
        out.append(("generator", self._name(code), frame.f_lasti, count))
        self._slots_of(address, count, out)
